import { describe, expect, it } from "vitest";

import { levelFromTimeDomain, micErrorKey, micPrecheck, pickRecordingType, recordingFileName } from "./audio";

describe("microphone errors", () => {
  it("maps getUserMedia errors to what the person should do", () => {
    expect(micErrorKey(new DOMException("denied", "NotAllowedError"))).toBe("voice.mic_denied");
    expect(micErrorKey(new DOMException("none", "NotFoundError"))).toBe("voice.mic_missing");
    expect(micErrorKey(new DOMException("busy", "NotReadableError"))).toBe("voice.mic_busy");
    expect(micErrorKey(new Error("other"))).toBe("voice.mic_error");
    expect(micErrorKey(null)).toBe("voice.mic_error");
  });

  it("explains insecure pages and missing APIs before asking", () => {
    expect(micPrecheck({ secure: false, getUserMedia: true, mediaRecorder: true })).toBe("voice.mic_insecure");
    expect(micPrecheck({ secure: true, getUserMedia: false, mediaRecorder: true })).toBe("voice.mic_unsupported");
    expect(micPrecheck({ secure: true, getUserMedia: true, mediaRecorder: false })).toBe("voice.mic_unsupported");
    expect(micPrecheck({ secure: true, getUserMedia: true, mediaRecorder: true })).toBeNull();
  });
});

describe("levelFromTimeDomain", () => {
  it("is zero for silence and grows with loudness", () => {
    expect(levelFromTimeDomain(new Uint8Array(256).fill(128))).toBe(0);
    const quiet = Uint8Array.from({ length: 256 }, (_, i) => 128 + (i % 2 ? 5 : -5));
    const loud = Uint8Array.from({ length: 256 }, (_, i) => 128 + (i % 2 ? 60 : -60));
    expect(levelFromTimeDomain(quiet)).toBeGreaterThan(0);
    expect(levelFromTimeDomain(loud)).toBeGreaterThan(levelFromTimeDomain(quiet));
    expect(levelFromTimeDomain(Uint8Array.from({ length: 4 }, (_, i) => (i % 2 ? 255 : 0)))).toBe(1);
    expect(levelFromTimeDomain(new Uint8Array(0))).toBe(0);
  });
});

describe("recording formats", () => {
  it("prefers Opus in WebM, then Ogg, then what is left", () => {
    expect(pickRecordingType(() => true)).toBe("audio/webm;codecs=opus");
    expect(pickRecordingType((t) => t.startsWith("audio/ogg"))).toBe("audio/ogg;codecs=opus");
    expect(pickRecordingType((t) => t === "audio/mp4")).toBe("audio/mp4");
    expect(pickRecordingType(() => false)).toBe("");
  });

  it("names the upload after its type", () => {
    expect(recordingFileName("audio/webm;codecs=opus")).toBe("recording.webm");
    expect(recordingFileName("audio/mp4")).toBe("recording.m4a");
    expect(recordingFileName("audio/ogg; codecs=opus")).toBe("recording.ogg");
    expect(recordingFileName("")).toBe("recording.webm");
  });
});
