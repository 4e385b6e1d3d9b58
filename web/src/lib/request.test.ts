import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError } from "./errors";
import { apiJson, apiStream, TimedRequest } from "./request";

const enc = new TextEncoder();

function ndjsonResponse(lines: string[], delayMs = 0): Response {
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const line of lines) {
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        controller.enqueue(enc.encode(line));
      }
      controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson" } });
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("TimedRequest", () => {
  it("aborts after the timeout and says so", () => {
    vi.useFakeTimers();
    const r = new TimedRequest(1000);
    vi.advanceTimersByTime(999);
    expect(r.signal.aborted).toBe(false);
    vi.advanceTimersByTime(2);
    expect(r.signal.aborted).toBe(true);
    expect(r.reason).toBe("timeout");
  });

  it("re-arms on activity, so only silence times out", () => {
    vi.useFakeTimers();
    const r = new TimedRequest(1000);
    for (let i = 0; i < 5; i += 1) {
      vi.advanceTimersByTime(800);
      r.touch();
    }
    expect(r.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1001);
    expect(r.reason).toBe("timeout");
  });

  it("cancels, and a finished request never times out", () => {
    vi.useFakeTimers();
    const a = new TimedRequest(1000);
    a.cancel();
    expect(a.reason).toBe("cancelled");
    const b = new TimedRequest(1000);
    b.finish();
    vi.advanceTimersByTime(5000);
    expect(b.signal.aborted).toBe(false);
  });
});

describe("apiStream", () => {
  it("yields events and throws an error line as ApiError", async () => {
    vi.stubGlobal("fetch", vi.fn(async () =>
      ndjsonResponse(['{"type":"start","session_id":"s"}\n{"type":"token","text":"a"}\n', '{"type":"error","error":{"code":"backend_timeout","message":"Stalled."}}\n']),
    ));
    const seen: string[] = [];
    const run = async () => {
      for await (const e of apiStream<{ type: string }>("/ask-llm", { json: {}, request: new TimedRequest(5000) })) seen.push(e.type);
    };
    await expect(run()).rejects.toMatchObject({ code: "backend_timeout", message: "Stalled." });
    expect(seen).toEqual(["start", "token"]);
  });

  it("sends JSON with a request id to /api", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) => ndjsonResponse(['{"type":"done"}\n']));
    vi.stubGlobal("fetch", fetchMock);
    for await (const _ of apiStream("/models/pull", { json: { name: "m" }, request: new TimedRequest(5000) })) {
      // drain
    }
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/models/pull");
    expect(init.method).toBe("POST");
    expect(init.body).toBe('{"name":"m"}');
    const headers = init.headers as Record<string, string>;
    expect(headers["Content-Type"]).toBe("application/json");
    expect(headers["X-Request-ID"]).toMatch(/^web-/);
  });

  it("turns an HTTP error before the stream into ApiError", async () => {
    vi.stubGlobal("fetch", vi.fn(async () =>
      Response.json({ error: { code: "model_not_found", message: "Model 'x' is not pulled.", request_id: "q" } }, { status: 404 }),
    ));
    const run = async () => {
      for await (const _ of apiStream("/ask-llm", { json: {}, request: new TimedRequest(5000) })) {
        // drain
      }
    };
    await expect(run()).rejects.toMatchObject({ code: "model_not_found", status: 404, requestId: "q" });
  });

  it("reports a cancel as `cancelled`", async () => {
    vi.stubGlobal("fetch", vi.fn(async (_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      }),
    ));
    const request = new TimedRequest(5000);
    const run = apiJson("/ask-llm", { json: {}, timeoutMs: 5000, request });
    request.cancel();
    await expect(run).rejects.toMatchObject({ code: "cancelled" });
  });

  it("reports silence as `timeout`", async () => {
    vi.stubGlobal("fetch", vi.fn(async (_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      }),
    ));
    const err = await apiJson("/readyz", { timeoutMs: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe("timeout");
  });

  it("reports a failed connection as `network`", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    }));
    await expect(apiJson("/sessions", { timeoutMs: 1000 })).rejects.toMatchObject({ code: "network" });
  });
});
