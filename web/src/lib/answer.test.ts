import { afterEach, describe, expect, it, vi } from "vitest";

import { askRequest, EMPTY_PROGRESS, failurePatch, foldEvent, newExchange, streamAnswer, type AnswerPatch } from "./answer";
import { DEFAULT_PARAMS } from "./chat";
import { ApiError } from "./errors";
import { TimedRequest } from "./request";
import type { AskEvent } from "./types";

const enc = new TextEncoder();
const ndjson = (lines: object[]) =>
  new Response(lines.map((l) => `${JSON.stringify(l)}\n`).join(""), { headers: { "content-type": "application/x-ndjson" } });

afterEach(() => vi.unstubAllGlobals());

describe("askRequest", () => {
  it("always streams with the options, and leaves out what is not set", () => {
    expect(askRequest({ prompt: "hi", model: null, params: DEFAULT_PARAMS, sessionId: null, system: "  " })).toEqual({
      prompt: "hi", stream: true, options: { temperature: 0.7, top_p: 0.9, max_tokens: 1024 },
    });
    expect(askRequest({ prompt: "hi", model: "m", params: DEFAULT_PARAMS, sessionId: "s1", system: " Be brief. " })).toMatchObject({
      model: "m", session_id: "s1", system: "Be brief.",
    });
  });
});

describe("newExchange", () => {
  it("makes a done question and a streaming answer with distinct keys", () => {
    const [question, answer] = newExchange("hi", "m");
    expect(question).toMatchObject({ role: "user", content: "hi", model: "m", status: "done", client: null });
    expect(answer).toMatchObject({ role: "assistant", content: "", status: "streaming", client: { firstTokenMs: null, totalMs: null, tokenCount: 0 } });
    expect(question.key).not.toBe(answer.key);
    expect(newExchange("again", null)[0].key).not.toBe(question.key);
  });
});

describe("foldEvent", () => {
  it("follows start, tokens and done, timing the first token and the whole answer", () => {
    const events: [AskEvent, number][] = [
      [{ type: "start", session_id: "s9", model: "qwen", message_id: 1 }, 5],
      [{ type: "token", text: "Hel" }, 40],
      [{ type: "token", text: "lo" }, 60],
      [{ type: "done", answer: "Hello", timings: { total_ms: 55 } }, 70],
    ];
    let p = EMPTY_PROGRESS;
    const patches: (AnswerPatch | null)[] = [];
    for (const [event, ms] of events) {
      const folded = foldEvent(p, event, ms);
      p = folded.progress;
      patches.push(folded.patch);
    }
    expect(patches).toEqual([
      { model: "qwen" },
      { content: "Hel", client: { firstTokenMs: 40, totalMs: null, tokenCount: 1 } },
      { content: "Hello", client: { firstTokenMs: 40, totalMs: null, tokenCount: 2 } },
      { content: "Hello", status: "done", timings: { total_ms: 55 }, client: { firstTokenMs: 40, totalMs: 70, tokenCount: 2 } },
    ]);
    expect(p).toMatchObject({ session: "s9", finished: true, text: "Hello" });
  });

  it("ignores events it does not know", () => {
    const unknown = { type: "ping" } as unknown as AskEvent;
    expect(foldEvent(EMPTY_PROGRESS, unknown, 1)).toEqual({ progress: EMPTY_PROGRESS, patch: null });
  });
});

describe("failurePatch", () => {
  it("marks a Stop as stopped and anything else as an error, with the time so far", () => {
    const p = { ...EMPTY_PROGRESS, firstTokenMs: 10, tokenCount: 3 };
    expect(failurePatch(p, new ApiError("cancelled", "x"), 90)).toEqual({
      status: "stopped", client: { firstTokenMs: 10, totalMs: 90, tokenCount: 3 },
    });
    const error = new ApiError("backend_timeout", "Stalled.");
    expect(failurePatch(p, error, 90)).toMatchObject({ status: "error", error });
  });
});

describe("streamAnswer", () => {
  it("streams a complete answer and returns its session", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => ndjson([
      { type: "start", session_id: "s1", model: "m", message_id: 1 },
      { type: "token", text: "ok" },
      { type: "done", answer: "ok", timings: {} },
    ])));
    const patches: AnswerPatch[] = [];
    const result = await streamAnswer({ prompt: "q", stream: true }, new TimedRequest(5000), (p) => patches.push(p));
    expect(result).toEqual({ session: "s1" });
    expect(patches.at(-1)).toMatchObject({ status: "done", content: "ok" });
  });

  it("calls an answer without its done line incomplete", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => ndjson([{ type: "start", session_id: "s1", model: "m", message_id: 1 }, { type: "token", text: "o" }])));
    const patches: AnswerPatch[] = [];
    expect(await streamAnswer({ prompt: "q", stream: true }, new TimedRequest(5000), (p) => patches.push(p))).toBeNull();
    expect(patches.at(-1)).toMatchObject({ status: "error", error: { code: "stream_incomplete" }, client: { tokenCount: 1 } });
  });

  it("turns an error line into an errored answer", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => ndjson([{ type: "error", error: { code: "backend_timeout", message: "Stalled." } }])));
    const patches: AnswerPatch[] = [];
    expect(await streamAnswer({ prompt: "q", stream: true }, new TimedRequest(5000), (p) => patches.push(p))).toBeNull();
    expect(patches).toEqual([expect.objectContaining({ status: "error", error: expect.objectContaining({ code: "backend_timeout" }) })]);
  });

  it("stops on Cancel and keeps what arrived", async () => {
    const request = new TimedRequest(5000);
    vi.stubGlobal("fetch", vi.fn(async (_url: string, init: RequestInit) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(enc.encode('{"type":"token","text":"par"}\n'));
          init.signal?.addEventListener("abort", () => controller.error(new DOMException("aborted", "AbortError")));
        },
      });
      return new Response(body);
    }));
    const patches: AnswerPatch[] = [];
    const run = streamAnswer({ prompt: "q", stream: true }, request, (p) => {
      patches.push(p);
      if (p.content === "par") request.cancel();
    });
    expect(await run).toBeNull();
    expect(patches.at(-1)).toMatchObject({ status: "stopped", client: { tokenCount: 1 } });
  });
});
