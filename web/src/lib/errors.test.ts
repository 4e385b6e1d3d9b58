import { describe, expect, it } from "vitest";

import { ApiError, errorFromBody, errorFromException, errorFromResponse, hintKey, parseRetryAfter } from "./errors";
import { translate } from "./i18n";

describe("errorFromResponse", () => {
  it("reads the contract's error body, request id and Retry-After", async () => {
    const res = new Response(
      JSON.stringify({ error: { code: "backend_unavailable", message: "The model is loading.", request_id: "r-1" } }),
      { status: 503, headers: { "content-type": "application/json", "retry-after": "7", "x-request-id": "hdr" } },
    );
    const err = await errorFromResponse(res);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("backend_unavailable");
    expect(err.message).toBe("The model is loading.");
    expect(err.status).toBe(503);
    expect(err.requestId).toBe("r-1");
    expect(err.retryAfterS).toBe(7);
  });

  it("copes with a body that is not the contract's", async () => {
    const err = await errorFromResponse(new Response("Bad Gateway from nginx", { status: 502, headers: { "x-request-id": "abc" } }));
    expect(err.code).toBe("http_502");
    expect(err.message).toBe("Bad Gateway from nginx");
    expect(err.requestId).toBe("abc");
    expect(hintKey(err)).toBe("hint.backend_error");
  });

  it("copes with an empty body", async () => {
    const err = await errorFromResponse(new Response(null, { status: 404, statusText: "Not Found" }));
    expect(err.code).toBe("http_404");
    expect(err.message).toBe("Not Found");
    expect(hintKey(err)).toBe("hint.unknown");
  });
});

describe("errorFromBody", () => {
  it("reads a stream's error line", () => {
    const err = errorFromBody({ type: "error", error: { code: "backend_timeout", message: "Stalled." } }, 200);
    expect(err?.code).toBe("backend_timeout");
    expect(err?.message).toBe("Stalled.");
  });

  it("returns null for other bodies", () => {
    expect(errorFromBody({ status: "ok" }, 200)).toBeNull();
    expect(errorFromBody(null, 500)).toBeNull();
  });
});

describe("errorFromException", () => {
  it("tells a timeout from a cancel from a network failure", () => {
    const abort = new DOMException("aborted", "AbortError");
    expect(errorFromException(abort, "timeout").code).toBe("timeout");
    expect(errorFromException(abort, "cancelled").code).toBe("cancelled");
    expect(errorFromException(abort, null).code).toBe("cancelled");
    expect(errorFromException(new TypeError("Failed to fetch"), null).code).toBe("network");
  });

  it("keeps an ApiError as it is", () => {
    const err = new ApiError("overloaded", "Busy", 429, "id", 3);
    expect(errorFromException(err, null)).toBe(err);
  });
});

describe("hints", () => {
  it("has a hint in both languages for every contract code", () => {
    const codes = [
      "bad_request", "unauthorized", "not_found", "model_not_found", "payload_too_large", "unsupported_media_type",
      "unprocessable_media", "overloaded", "backend_error", "backend_unavailable", "backend_timeout", "internal",
    ];
    for (const code of codes) {
      const key = hintKey(new ApiError(code, "x", 400));
      expect(key, code).not.toBe("hint.unknown");
      expect(translate("en", key)).not.toBe(translate("ja", key));
    }
  });

  it("says when to retry", () => {
    const err = new ApiError("overloaded", "Queue full", 429, null, 12);
    expect(translate("en", hintKey(err), { seconds: err.retryAfterS ?? 5 })).toContain("12 s");
  });

  it("parses Retry-After as seconds or a date", () => {
    expect(parseRetryAfter("5")).toBe(5);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    expect(parseRetryAfter(inTen)).toBeGreaterThanOrEqual(8);
  });
});

describe("an llm-api the web server cannot reach", () => {
  it("is told apart from a model that is loading", async () => {
    const body = { error: { code: "backend_unavailable", message: "The llm-api at http://x cannot be reached.", request_id: "r" } };
    const fromProxy = await errorFromResponse(Response.json(body, { status: 503, headers: { "x-llm-api-unreachable": "1" } }));
    const fromApi = await errorFromResponse(Response.json(body, { status: 503 }));
    expect(fromProxy.code).toBe("backend_unavailable");
    expect(hintKey(fromProxy)).toBe("hint.llm_api_unreachable");
    expect(hintKey(fromApi)).toBe("hint.backend_unavailable");
  });
});
