import { describe, expect, it } from "vitest";

import { LatencyMeter, samplesToMs } from "./latency";
import { StreamResampler } from "./resample";

describe("LatencyMeter", () => {
  it("measures from the first audio sent to the first audio and text received", () => {
    const m = new LatencyMeter();
    m.audio(5); // before anything was sent: not a reply
    expect(m.audioMs).toBeNull();
    m.sent(1000.4);
    m.sent(1100);
    m.text(1250);
    m.audio(1420.6);
    m.audio(2000);
    expect(m.audioMs).toBe(420);
    expect(m.textMs).toBe(250);
  });
  it("converts samples to ms", () => {
    expect(samplesToMs(24000, 24000)).toBe(1000);
    expect(samplesToMs(1920, 24000)).toBe(80);
    expect(samplesToMs(5, 0)).toBe(0);
  });
});

describe("StreamResampler", () => {
  it("passes audio through at equal rates", () => {
    const x = new Float32Array([1, 2, 3]);
    expect(new StreamResampler(24000, 24000).process(x)).toBe(x);
  });
  it("keeps the rate ratio across chunks, without a seam", () => {
    const r = new StreamResampler(48000, 24000);
    const ramp = Float32Array.from({ length: 960 }, (_, i) => i);
    const out = [...r.process(ramp.subarray(0, 333)), ...r.process(ramp.subarray(333, 700)), ...r.process(ramp.subarray(700))];
    expect(out).toHaveLength(480);
    out.forEach((v, i) => expect(v).toBeCloseTo(i * 2));
  });
  it("upsamples 16 kHz to 24 kHz by interpolation", () => {
    const r = new StreamResampler(16000, 24000);
    const ramp = Float32Array.from({ length: 160 }, (_, i) => i);
    const out = [...r.process(ramp.subarray(0, 50)), ...r.process(ramp.subarray(50))];
    expect(out.length).toBeGreaterThanOrEqual(238);
    out.forEach((v, i) => expect(v).toBeCloseTo((i * 2) / 3, 4));
  });
});
