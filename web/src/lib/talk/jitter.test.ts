// The jitter buffer runs inside the playback AudioWorklet, so it is plain JavaScript in public/worklets/.
import { describe, expect, it } from "vitest";

import { JitterBuffer } from "../../../public/worklets/talk-jitter.js";

const chunk = (n: number, from: number) => Float32Array.from({ length: n }, (_, i) => from + i);

describe("JitterBuffer", () => {
  it("waits for the start level, then plays chunks back to back with no gap", () => {
    const b = new JitterBuffer(300, 10_000);
    const out = new Float32Array(128);
    b.push(chunk(200, 1));
    expect(b.pull(out)).toBe(0);
    expect(out.every((v) => v === 0)).toBe(true);
    b.push(chunk(200, 201));
    const played: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      expect(b.pull(out)).toBe(128);
      played.push(...out);
    }
    expect(played).toEqual(Array.from({ length: 384 }, (_, i) => i + 1));
    expect(b.underruns).toBe(0);
  });

  it("fills an underrun with silence, counts it and buffers again", () => {
    const b = new JitterBuffer(100, 10_000);
    const out = new Float32Array(128);
    b.push(chunk(150, 1));
    b.pull(out);
    expect(b.pull(out)).toBe(22);
    expect(out[21]).toBe(150);
    expect(out.subarray(22).every((v) => v === 0)).toBe(true);
    expect(b.underruns).toBe(1);
    expect(b.playing).toBe(false);
    b.push(chunk(50, 1));
    expect(b.pull(out)).toBe(0); // below the start level again
    b.push(chunk(60, 51));
    expect(b.pull(out)).toBe(110);
    expect(b.playedFrames).toBe(260);
  });

  it("drops the oldest audio beyond the maximum", () => {
    const b = new JitterBuffer(10, 250);
    for (let i = 0; i < 4; i += 1) b.push(chunk(100, i * 100));
    expect(b.buffered).toBe(200);
    expect(b.droppedFrames).toBe(200);
    const out = new Float32Array(128);
    b.pull(out);
    expect(out[0]).toBe(200);
  });
});
