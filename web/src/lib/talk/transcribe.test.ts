import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError } from "@/lib/errors";
import { en } from "@/lib/i18n/en";

import { transcribeTurn, turnFailureKey, unavailableKey, unavailableReason } from "./transcribe";
import { WAV_HEADER_BYTES } from "./wav";

afterEach(() => vi.unstubAllGlobals());

const errorResponse = (status: number, code: string, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message: `${code}!`, request_id: "r1" } }, { status, headers });

describe("transcribeTurn", () => {
  it("POSTs a 16 kHz WAV named turn.wav and the language as multipart to /api/transcribe", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) =>
      Response.json({ transcript: " hello ", model: "omni", duration_s: 1, timings: {} }));
    vi.stubGlobal("fetch", fetchMock);
    const words = await transcribeTurn(new Float32Array(24_000), 24_000, "ja", new AbortController().signal);
    expect(words).toBe("hello");
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/transcribe");
    expect(init.method).toBe("POST");
    const form = init.body as FormData;
    const audio = form.get("audio") as File;
    expect(audio.name).toBe("turn.wav");
    expect(audio.type).toBe("audio/wav");
    expect(audio.size).toBe(WAV_HEADER_BYTES + 16_000 * 2);
    const header = new DataView(await audio.slice(0, WAV_HEADER_BYTES).arrayBuffer());
    expect(header.getUint32(24, true)).toBe(16_000);
    expect(form.get("language")).toBe("ja");
  });

  it("leaves out a language the route does not take, and reads a missing transcript as empty", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) => Response.json({ model: "omni" }));
    vi.stubGlobal("fetch", fetchMock);
    expect(await transcribeTurn(new Float32Array(16), 16_000, "fr", new AbortController().signal)).toBe("");
    expect((fetchMock.mock.calls[0][1].body as FormData).has("language")).toBe(false);
  });

  it("throws the contract's error as an ApiError", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => errorResponse(503, "backend_unavailable", { "Retry-After": "5" })));
    const err = await transcribeTurn(new Float32Array(16), 16_000, "en", new AbortController().signal).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: "backend_unavailable", status: 503, retryAfterS: 5 });
  });

  it("is cancelled by the queue's signal", async () => {
    vi.stubGlobal("fetch", vi.fn((_url: string, init: RequestInit) => new Promise((_resolve, reject) => {
      init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    })));
    const controller = new AbortController();
    const pending = transcribeTurn(new Float32Array(16), 16_000, "en", controller.signal).catch((e) => e);
    controller.abort();
    expect(await pending).toMatchObject({ code: "cancelled" });
  });
});

describe("which failures end transcription for the conversation", () => {
  it("maps the route's unavailable answers and the network to one reason each", () => {
    expect(unavailableReason(new ApiError("model_not_found", "", 404))).toBe("model_not_found");
    expect(unavailableReason(new ApiError("backend_unavailable", "", 503, null, 5))).toBe("backend_unavailable");
    expect(unavailableReason(new ApiError("http_503", "", 503))).toBe("backend_unavailable");
    expect(unavailableReason(new ApiError("not_found", "", 404))).toBe("no_route");
    expect(unavailableReason(new ApiError("network", "Failed to fetch"))).toBe("unreachable");
    expect(unavailableReason(new ApiError("backend_unavailable", "", 503, null, null, true))).toBe("unreachable");
    expect(unavailableReason(new TypeError("boom"))).toBe("unreachable");
  });

  it("keeps going after a failure of one turn", () => {
    for (const [code, status] of [["bad_request", 400], ["payload_too_large", 413], ["unsupported_media_type", 415],
      ["unprocessable_media", 422], ["backend_timeout", 504], ["backend_error", 502], ["timeout", null]] as const) {
      expect(unavailableReason(new ApiError(code, "", status)), code).toBeNull();
    }
  });

  it("has a message for every reason, naming the Omni model and the worker's state", () => {
    expect(en[unavailableKey("model_not_found")]).toMatch(/not transcribed.*Omni model is not running/);
    expect(en[unavailableKey("backend_unavailable")]).toMatch(/not transcribed.*still loading or not running/);
    for (const reason of ["no_route", "unreachable", "failing"] as const) {
      expect(en[unavailableKey(reason)]).toMatch(/^Your words are not transcribed/);
    }
  });

  it("says briefly why one turn has no words", () => {
    expect(turnFailureKey(new ApiError("backend_timeout", "", 504))).toBe("talk.words.failed_timeout");
    expect(turnFailureKey(new ApiError("timeout", ""))).toBe("talk.words.failed_timeout");
    expect(turnFailureKey(new ApiError("payload_too_large", "", 413))).toBe("talk.words.failed_audio");
    expect(turnFailureKey(new ApiError("unprocessable_media", "", 422))).toBe("talk.words.failed_audio");
    expect(turnFailureKey(new ApiError("backend_error", "", 502))).toBe("talk.words.failed");
  });
});
