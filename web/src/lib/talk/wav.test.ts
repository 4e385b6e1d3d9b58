import { describe, expect, it } from "vitest";

import { encodeWav, toInt16, turnWav, WAV_HEADER_BYTES, WAV_RATE } from "./wav";

const text = (bytes: Uint8Array, offset: number, length: number) =>
  String.fromCharCode(...bytes.subarray(offset, offset + length));

describe("encodeWav", () => {
  it("writes a mono 16-bit PCM RIFF header", () => {
    const bytes = encodeWav(new Float32Array(10), 16_000);
    const view = new DataView(bytes.buffer);
    expect(bytes.length).toBe(WAV_HEADER_BYTES + 20);
    expect(text(bytes, 0, 4)).toBe("RIFF");
    expect(view.getUint32(4, true)).toBe(36 + 20);
    expect(text(bytes, 8, 4)).toBe("WAVE");
    expect(text(bytes, 12, 4)).toBe("fmt ");
    expect(view.getUint32(16, true)).toBe(16);
    expect(view.getUint16(20, true)).toBe(1); // PCM
    expect(view.getUint16(22, true)).toBe(1); // channels
    expect(view.getUint32(24, true)).toBe(16_000);
    expect(view.getUint32(28, true)).toBe(32_000);
    expect(view.getUint16(32, true)).toBe(2);
    expect(view.getUint16(34, true)).toBe(16);
    expect(text(bytes, 36, 4)).toBe("data");
    expect(view.getUint32(40, true)).toBe(20);
  });

  it("converts samples little-endian, clipping and silencing NaN", () => {
    const bytes = encodeWav(new Float32Array([0, 1, -1, 0.5, -0.5, 2, -3, NaN]), 8_000);
    const view = new DataView(bytes.buffer);
    const out = Array.from({ length: 8 }, (_, i) => view.getInt16(WAV_HEADER_BYTES + i * 2, true));
    expect(out).toEqual([0, 32767, -32768, 16384, -16384, 32767, -32768, 0]);
    expect(view.getUint32(24, true)).toBe(8_000);
  });

  it("writes an empty file with a valid header", () => {
    const bytes = encodeWav(new Float32Array(0), 16_000);
    expect(bytes.length).toBe(WAV_HEADER_BYTES);
    expect(new DataView(bytes.buffer).getUint32(40, true)).toBe(0);
  });

  it("rounds to the nearest step", () => {
    expect(toInt16(0.25)).toBe(Math.round(0.25 * 32767));
    expect(toInt16(-0.25)).toBe(-8192);
    expect(toInt16(1e-6)).toBe(0);
  });
});

describe("turnWav", () => {
  it("resamples 24 kHz to 16 kHz: two thirds of the samples", () => {
    const second = new Float32Array(24_000).fill(0.5);
    const bytes = turnWav(second, 24_000);
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(24, true)).toBe(WAV_RATE);
    const samples = (bytes.length - WAV_HEADER_BYTES) / 2;
    expect(Math.abs(samples - 16_000)).toBeLessThanOrEqual(1);
    expect(view.getInt16(WAV_HEADER_BYTES + 200, true)).toBe(toInt16(0.5));
  });

  it("keeps 16 kHz audio as it is", () => {
    const bytes = turnWav(new Float32Array(1600), WAV_RATE);
    expect(bytes.length).toBe(WAV_HEADER_BYTES + 3200);
  });
});
