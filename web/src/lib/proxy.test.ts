import { describe, expect, it } from "vitest";

import {
  buildUpstreamUrl,
  DEFAULT_LLM_API_URL,
  downstreamResponseHeaders,
  llmApiBase,
  ProxyPathError,
  requestIdFrom,
  unreachableMessage,
  upstreamRequestHeaders,
} from "./proxy";

describe("llmApiBase", () => {
  it("reads LLM_API_URL with a default", () => {
    expect(llmApiBase({})).toBe(DEFAULT_LLM_API_URL);
    expect(llmApiBase({ LLM_API_URL: "  " })).toBe(DEFAULT_LLM_API_URL);
    expect(llmApiBase({ LLM_API_URL: "http://127.0.0.1:8080" })).toBe("http://127.0.0.1:8080");
  });
});

describe("buildUpstreamUrl", () => {
  it("joins base, path and query", () => {
    expect(buildUpstreamUrl("http://llm-api:8080", ["ask-llm"])).toBe("http://llm-api:8080/ask-llm");
    expect(buildUpstreamUrl("http://llm-api:8080/", ["sessions", "abc"], "?limit=5")).toBe("http://llm-api:8080/sessions/abc?limit=5");
    expect(buildUpstreamUrl("http://h:1", ["sessions"], "limit=5&before=x")).toBe("http://h:1/sessions?limit=5&before=x");
  });

  it("keeps a base path", () => {
    expect(buildUpstreamUrl("https://example.com/llm/", ["models", "pull"])).toBe("https://example.com/llm/models/pull");
  });

  it("re-encodes segments so they cannot add path parts", () => {
    expect(buildUpstreamUrl("http://h:1", ["sessions", "a/b?c"])).toBe("http://h:1/sessions/a%2Fb%3Fc");
    expect(buildUpstreamUrl("http://h:1", ["日本"])).toBe("http://h:1/%E6%97%A5%E6%9C%AC");
  });

  it("refuses dot segments", () => {
    expect(() => buildUpstreamUrl("http://h:1/base", ["..", "admin"])).toThrow(ProxyPathError);
    expect(() => buildUpstreamUrl("http://h:1", ["."])).toThrow(ProxyPathError);
  });

  it("throws on a bad base URL", () => {
    expect(() => buildUpstreamUrl("not a url", ["x"])).toThrow(TypeError);
  });
});

describe("headers", () => {
  it("forwards only the request headers the llm-api needs", () => {
    const incoming = new Headers({
      "content-type": "multipart/form-data; boundary=x",
      authorization: "Bearer k",
      cookie: "lang=ja",
      "x-request-id": "abc",
      host: "localhost:3000",
    });
    const out = upstreamRequestHeaders(incoming, "abc");
    expect(out.get("content-type")).toBe("multipart/form-data; boundary=x");
    expect(out.get("authorization")).toBe("Bearer k");
    expect(out.get("x-request-id")).toBe("abc");
    expect(out.has("cookie")).toBe(false);
    expect(out.has("host")).toBe(false);
  });

  it("adds the server's API key only when the browser sent none", () => {
    expect(upstreamRequestHeaders(new Headers(), "id", "secret").get("authorization")).toBe("Bearer secret");
    expect(upstreamRequestHeaders(new Headers({ authorization: "Bearer mine" }), "id", "secret").get("authorization")).toBe("Bearer mine");
    expect(upstreamRequestHeaders(new Headers(), "id").has("authorization")).toBe(false);
  });

  it("passes back the contract's response headers and marks streams unbuffered", () => {
    const out = downstreamResponseHeaders(
      new Headers({
        "content-type": "application/x-ndjson",
        "retry-after": "5",
        "server-timing": "total;dur=3",
        "x-request-id": "r",
        "set-cookie": "a=b",
        "content-length": "10",
      }),
    );
    expect(out.get("retry-after")).toBe("5");
    expect(out.get("server-timing")).toBe("total;dur=3");
    expect(out.get("x-request-id")).toBe("r");
    expect(out.get("x-accel-buffering")).toBe("no");
    expect(out.get("cache-control")).toBe("no-cache");
    expect(out.has("set-cookie")).toBe(false);
    expect(out.has("content-length")).toBe(false);
  });

  it("echoes a valid request id and replaces an invalid one", () => {
    expect(requestIdFrom("abc-123_x.y:z", () => "new")).toBe("abc-123_x.y:z");
    expect(requestIdFrom("bad id!", () => "new")).toBe("new");
    expect(requestIdFrom(null, () => "new")).toBe("new");
    expect(requestIdFrom("x".repeat(129), () => "new")).toBe("new");
  });
});

describe("unreachableMessage", () => {
  it("names the URL and the connection error code", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const err = new TypeError("fetch failed", { cause });
    const text = unreachableMessage("http://llm-api:8080", err);
    expect(text).toContain("http://llm-api:8080");
    expect(text).toContain("ECONNREFUSED");
    expect(text).toContain("LLM_API_URL");
  });
});
