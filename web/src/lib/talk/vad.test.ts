import { describe, expect, it } from "vitest";

import { addModelText, addUserSpeech, type Turn } from "./transcript";
import { meterLevel, rms, SpeechSegmenter, type VadEvent } from "./vad";

describe("level", () => {
  it("computes RMS and a dB meter", () => {
    expect(rms(new Float32Array([0.5, -0.5]))).toBeCloseTo(0.5);
    expect(rms(new Float32Array(0))).toBe(0);
    expect(meterLevel(1)).toBe(1);
    expect(meterLevel(0.001)).toBe(0);
    expect(meterLevel(0.0316)).toBeCloseTo(0.5, 1);
  });
});

describe("SpeechSegmenter", () => {
  const run = (levels: number[], frameMs = 20) => {
    const vad = new SpeechSegmenter({ threshold: 0.1, hangoverMs: 100, minSpeechMs: 60 });
    return levels.map((l, i) => vad.push(l, i * frameMs, frameMs)).filter((e): e is VadEvent => e !== null);
  };
  it("reports start after the minimum, updates, and ends after the hangover", () => {
    const events = run([0, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0]);
    expect(events[0]).toEqual({ type: "start", atMs: 20 });
    expect(events[1]).toEqual({ type: "update", startMs: 20, durationMs: 80 });
    expect(events[events.length - 1]).toEqual({ type: "end", startMs: 20, durationMs: 80 });
  });
  it("bridges short pauses and ignores clicks", () => {
    expect(run([0.5, 0, 0, 0, 0, 0, 0, 0])).toEqual([]);
    const events = run([0.5, 0.5, 0.5, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0, 0]);
    expect(events.filter((e) => e.type === "start")).toHaveLength(1);
    expect(events[events.length - 1]).toEqual({ type: "end", startMs: 0, durationMs: 140 });
  });
});

describe("transcript", () => {
  it("interleaves model turns and user speech in time order", () => {
    let turns: Turn[] = [];
    turns = addModelText(turns, " Hello", 100);
    turns = addModelText(turns, " there.", 180);
    turns = addUserSpeech(turns, { type: "start", atMs: 500 });
    turns = addUserSpeech(turns, { type: "update", startMs: 500, durationMs: 800 });
    turns = addModelText(turns, "はい", 900);
    turns = addUserSpeech(turns, { type: "end", startMs: 500, durationMs: 1200 });
    expect(turns).toEqual([
      { who: "model", startMs: 100, text: "Hello there." },
      { who: "user", startMs: 500, durationMs: 1200, open: false, words: null, pending: 0, note: null },
      { who: "model", startMs: 900, text: "はい" },
    ]);
  });
});

describe("SpeechSegmenter.flush", () => {
  it("ends a running segment when the conversation stops", () => {
    const vad = new SpeechSegmenter({ threshold: 0.1, hangoverMs: 100, minSpeechMs: 40 });
    expect(vad.flush()).toBeNull();
    for (let i = 0; i < 4; i += 1) vad.push(0.5, i * 20, 20);
    expect(vad.flush()).toEqual({ type: "end", startMs: 0, durationMs: 80 });
    expect(vad.speaking).toBe(false);
    expect(vad.flush()).toBeNull();
  });
});
