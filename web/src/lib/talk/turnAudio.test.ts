import { describe, expect, it } from "vitest";

import { TurnRecorder } from "./turnAudio";

/** Frames of `n` samples whose values count up from `from` (so positions can be checked). */
const frame = (from: number, n: number) => Float32Array.from({ length: n }, (_, i) => from + i);

describe("TurnRecorder", () => {
  // 1 kHz: 1 sample per ms, easy to count.
  const make = () => new TurnRecorder({ sampleRate: 1000, maxPieceMs: 100, historyMs: 30 });

  it("keeps nothing outside a turn", () => {
    const rec = make();
    expect(rec.push(frame(0, 20))).toBeNull();
    expect(rec.active).toBe(false);
    expect(rec.length).toBe(0);
  });

  it("starts a turn with the history before it and trims the ending silence", () => {
    const rec = make();
    rec.push(frame(0, 20));
    rec.push(frame(20, 20)); // history now holds 10..39
    rec.begin(15);
    expect(Array.from(rec.end()).slice(0, 3)).toEqual([25, 26, 27]);
    rec.begin(100); // more than the history holds: all of it (30 samples)
    expect(rec.length).toBe(30);
    rec.push(frame(40, 20));
    const last = rec.end(5);
    expect(last.length).toBe(45);
    expect(last[0]).toBe(10);
    expect(last[last.length - 1]).toBe(54);
    expect(rec.active).toBe(false);
  });

  it("cuts a long turn into pieces of at most maxPieceMs", () => {
    const rec = make();
    rec.begin(0);
    const pieces: Float32Array[] = [];
    for (let i = 0; i < 12; i += 1) {
      const piece = rec.push(frame(i * 20, 20));
      if (piece) pieces.push(piece);
    }
    expect(pieces.map((p) => p.length)).toEqual([100, 100]);
    expect(pieces[1][0]).toBe(100);
    const rest = rec.end();
    expect(rest.length).toBe(40);
    expect(rest[0]).toBe(200);
  });

  it("forgets a cancelled turn", () => {
    const rec = make();
    rec.begin(0);
    rec.push(frame(0, 20));
    rec.cancel();
    expect(rec.active).toBe(false);
    expect(rec.end().length).toBe(0);
  });
});
