import { describe, expect, it } from "vitest";

import {
  closeOutcome,
  decodeServerMessage,
  encodeAudio,
  explainWithStatus,
  micProblem,
  parseStatus,
  problemFromServerError,
  realtimeUrl,
} from "./protocol";

const enc = (kind: number, text: string) => Uint8Array.of(kind, ...new TextEncoder().encode(text));

describe("messages", () => {
  it("decodes each server kind", () => {
    expect(decodeServerMessage(Uint8Array.of(0))).toEqual({ type: "handshake" });
    expect(decodeServerMessage(Uint8Array.of(0, 0, 0, 0, 9))).toEqual({ type: "handshake" });
    expect(decodeServerMessage(Uint8Array.of(1, 0x4f, 0x67).buffer)).toEqual({ type: "audio", data: Uint8Array.of(0x4f, 0x67) });
    expect(decodeServerMessage(enc(2, " hello"))).toEqual({ type: "text", text: " hello" });
    expect(decodeServerMessage(enc(2, "こんにちは"))).toEqual({ type: "text", text: "こんにちは" });
    expect(decodeServerMessage(enc(5, "idle for 15 s"))).toEqual({ type: "error", message: "idle for 15 s" });
    expect(decodeServerMessage(Uint8Array.of(9, 1))).toEqual({ type: "unknown", kind: 9 });
    expect(decodeServerMessage(new Uint8Array(0))).toBeNull();
  });

  it("encodes client audio as 0x01 + Ogg bytes", () => {
    expect(Array.from(encodeAudio(Uint8Array.of(0x4f, 0x67, 0x67, 0x53)))).toEqual([1, 0x4f, 0x67, 0x67, 0x53]);
  });

  it("builds the same-origin WebSocket URL", () => {
    expect(realtimeUrl({ protocol: "http:", host: "localhost:3000" })).toBe("ws://localhost:3000/realtime/api/chat");
    expect(realtimeUrl({ protocol: "https:", host: "ai.example" })).toBe("wss://ai.example/realtime/api/chat");
  });
});

describe("parseStatus", () => {
  it("reads ready, loading and not running", () => {
    const ready = parseStatus(200, { status: "ready", model: "j-moshi", conversations: { active: 0, max: 1 }, sample_rate: 24000, frame_ms: 80 });
    expect(ready).toMatchObject({ state: "ready", model: "j-moshi", active: 0, max: 1, sampleRate: 24000, frameMs: 80 });
    expect(parseStatus(503, { status: "loading", progress: "weights 3/5" })).toMatchObject({ state: "loading", progress: "weights 3/5" });
    const down = parseStatus(503, { error: { code: "backend_unavailable", message: "run docker compose --profile realtime up", request_id: "r" } });
    expect(down).toMatchObject({ state: "not_running", message: "run docker compose --profile realtime up" });
    expect(parseStatus(503, { error: { code: "backend_unavailable", message: "x" } }, true).state).toBe("unreachable");
    expect(parseStatus(500, "nonsense").state).toBe("unknown");
  });
});

describe("closeOutcome and explainWithStatus", () => {
  const base = { handshaken: true, stopRequested: false, serverProblem: null };
  it("says nothing when the person stopped or the server ended normally", () => {
    expect(closeOutcome({ ...base, code: 1005, stopRequested: true })).toEqual({ problem: null, checkStatus: false });
    expect(closeOutcome({ ...base, code: 1000 })).toEqual({ problem: null, checkStatus: false });
  });
  it("maps close codes", () => {
    expect(closeOutcome({ ...base, code: 1013 }).problem).toBe("busy");
    expect(closeOutcome({ ...base, code: 1007 }).problem).toBe("malformed");
    expect(closeOutcome({ ...base, code: 1001 }).problem).toBe("going_away");
    expect(closeOutcome({ ...base, code: 1006 })).toEqual({ problem: "dropped", checkStatus: true });
    expect(closeOutcome({ ...base, code: 1006, handshaken: false })).toEqual({ problem: "refused", checkStatus: true });
  });
  it("lets a server error message win", () => {
    expect(closeOutcome({ ...base, code: 1013, serverProblem: problemFromServerError("busy: 1 of 1 conversations in progress, try again later") }).problem).toBe("busy");
    expect(problemFromServerError("idle for 15 s")).toBe("idle");
    expect(problemFromServerError("conversation time limit reached")).toBe("time_limit");
    expect(problemFromServerError("the model is still loading")).toBe("loading");
    expect(problemFromServerError("boom")).toBe("server_error");
  });
  it("explains a refusal with the status", () => {
    const st = (state: string, extra = {}) => ({ ...parseStatus(200, {}), state, ...extra }) as ReturnType<typeof parseStatus>;
    expect(explainWithStatus("refused", false, st("not_running"))).toBe("not_running");
    expect(explainWithStatus("refused", false, st("loading"))).toBe("loading");
    expect(explainWithStatus("refused", false, st("ready", { active: 1, max: 1 }))).toBe("busy");
    expect(explainWithStatus("refused", false, st("unreachable"))).toBe("unreachable");
    expect(explainWithStatus("dropped", true, st("not_running"))).toBe("dropped");
    expect(explainWithStatus("going_away", true, st("unreachable"))).toBe("going_away");
    expect(explainWithStatus("dropped", true, st("ready"))).toBe("dropped");
    expect(explainWithStatus("refused", false, null)).toBe("refused");
  });
  it("names microphone failures", () => {
    expect(micProblem({ name: "NotAllowedError" })).toBe("mic_denied");
    expect(micProblem({ name: "NotFoundError" })).toBe("mic_missing");
    expect(micProblem({ name: "NotReadableError" })).toBe("mic_busy");
    expect(micProblem(new Error("x"))).toBe("mic_error");
  });
});
