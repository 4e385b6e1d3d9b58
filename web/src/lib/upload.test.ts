import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError } from "./errors";
import { TimedRequest } from "./request";
import { timedUpload, toFormData } from "./upload";

afterEach(() => vi.unstubAllGlobals());

describe("toFormData", () => {
  it("keeps files with their names and non-blank strings, in order", async () => {
    const blob = new Blob(["RIFF"], { type: "audio/wav" });
    const form = toFormData({
      audio: { blob, name: "take.wav" },
      prompt: "Comment on my pace.",
      return_audio: "false",
      session_id: null,
      extra: undefined,
      blank: "   ",
    });
    expect([...form.keys()]).toEqual(["audio", "prompt", "return_audio"]);
    const file = form.get("audio") as File;
    expect(file.name).toBe("take.wav");
    expect(await file.text()).toBe("RIFF");
    expect(form.get("prompt")).toBe("Comment on my pace.");
    expect(form.get("return_audio")).toBe("false");
  });
});

describe("timedUpload", () => {
  it("POSTs the form to /api and returns the answer with the time waited", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) => Response.json({ count: 2 }));
    vi.stubGlobal("fetch", fetchMock);
    const clock = vi.fn().mockReturnValueOnce(100).mockReturnValueOnce(350);
    const form = toFormData({ image: { blob: new Blob(["x"]), name: "form.png" } });
    const result = await timedUpload<{ count: number }>("/detect-fields", { form }, new TimedRequest(5000), clock);
    expect(result).toEqual({ body: { count: 2 }, clientMs: 250 });
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/detect-fields");
    expect(init.method).toBe("POST");
    expect(init.body).toBe(form);
  });

  it("sends a JSON body as JSON", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) => Response.json({ ok: true }));
    vi.stubGlobal("fetch", fetchMock);
    await timedUpload("/x", { json: { a: 1 } }, new TimedRequest(5000));
    const init = fetchMock.mock.calls[0][1];
    expect(init.body).toBe('{"a":1}');
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("throws the contract's error as ApiError", async () => {
    vi.stubGlobal("fetch", vi.fn(async () =>
      Response.json({ error: { code: "payload_too_large", message: "Too big.", request_id: "r1" } }, { status: 413 }),
    ));
    const err = await timedUpload("/voice-feedback", { form: new FormData() }, new TimedRequest(5000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: "payload_too_large", status: 413, requestId: "r1" });
  });

  it("reports Cancel as `cancelled` and silence as `timeout`", async () => {
    vi.stubGlobal("fetch", vi.fn(async (_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      }),
    ));
    const cancelled = new TimedRequest(5000);
    const run = timedUpload("/voice-feedback", { form: new FormData() }, cancelled);
    cancelled.cancel();
    await expect(run).rejects.toMatchObject({ code: "cancelled" });
    await expect(timedUpload("/detect-fields", { form: new FormData() }, new TimedRequest(20))).rejects.toMatchObject({ code: "timeout" });
  });

  it("reports a failed connection as `network`", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    }));
    await expect(timedUpload("/detect-fields", { form: new FormData() }, new TimedRequest(5000))).rejects.toMatchObject({ code: "network" });
  });
});
