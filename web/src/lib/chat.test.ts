import { describe, expect, it } from "vitest";

import { answerMetrics, DEFAULT_PARAMS, fromStored, parseParams, validSessionId } from "./chat";

describe("answerMetrics", () => {
  it("prefers what the browser measured for waits, the server for speed", () => {
    const m = answerMetrics({
      timings: { total_ms: 900, first_token_ms: 100, completion_tokens: 40, tokens_per_s: 50 },
      client: { firstTokenMs: 150, totalMs: 1000, tokenCount: 38 },
    });
    expect(m).toEqual({ firstTokenMs: 150, totalMs: 1000, tokensPerS: 50, tokens: 40 });
  });

  it("computes the speed when the server gives none", () => {
    const m = answerMetrics({ timings: { total_ms: null }, client: { firstTokenMs: 1000, totalMs: 3000, tokenCount: 11 } });
    expect(m.tokensPerS).toBe(5);
    expect(m.tokens).toBe(11);
  });

  it("uses stored timings for answers loaded from history", () => {
    const m = answerMetrics({ timings: { total_ms: 2000, first_token_ms: 250, completion_tokens: 20, tokens_per_s: null }, client: null });
    expect(m.totalMs).toBe(2000);
    expect(m.firstTokenMs).toBe(250);
    expect(m.tokensPerS).toBeCloseTo(19 / 1.75);
  });

  it("is empty without any timing", () => {
    expect(answerMetrics({ timings: null, client: null })).toEqual({ firstTokenMs: null, totalMs: null, tokensPerS: null, tokens: null });
  });
});

describe("parseParams", () => {
  it("keeps valid saved values and replaces the rest", () => {
    expect(parseParams(JSON.stringify({ temperature: 1.5, top_p: 3, max_tokens: 256 }))).toEqual({
      temperature: 1.5,
      top_p: DEFAULT_PARAMS.top_p,
      max_tokens: 256,
    });
    expect(parseParams("{not json")).toEqual(DEFAULT_PARAMS);
    expect(parseParams(null)).toEqual(DEFAULT_PARAMS);
  });
});

describe("session ids and stored messages", () => {
  it("accepts only ids the contract allows", () => {
    expect(validSessionId("abc_DEF-123")).toBe("abc_DEF-123");
    expect(validSessionId("../etc")).toBeNull();
    expect(validSessionId("x".repeat(65))).toBeNull();
    expect(validSessionId(null)).toBeNull();
  });

  it("turns stored messages into chat messages", () => {
    const m = fromStored({ id: 7, role: "assistant", content: "hi", model: "m", created_at: "2026-01-01T00:00:00Z", timings: null });
    expect(m).toMatchObject({ key: "stored-7", role: "assistant", content: "hi", status: "done", client: null });
  });
});
