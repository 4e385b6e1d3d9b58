import { describe, expect, it } from "vitest";

import { OggReader } from "./ogg";
import { DEFAULT_PRE_SKIP, isOpusTags, OggOpusMuxer, opusHead, opusPacketSamples, parseOpusHead } from "./opus";

// TOC bytes: config << 3 | stereo << 2 | frame-count code.
const celt20ms = (len = 60) => Uint8Array.from({ length: len }, (_, i) => (i === 0 ? (31 << 3) | 0 : i & 0xff));

describe("opusPacketSamples", () => {
  it("reads frame size and count from the TOC byte, in 48 kHz samples", () => {
    expect(opusPacketSamples(Uint8Array.of(31 << 3))).toBe(960); // CELT 20 ms
    expect(opusPacketSamples(Uint8Array.of(28 << 3))).toBe(120); // CELT 2.5 ms
    expect(opusPacketSamples(Uint8Array.of((1 << 3) | 1))).toBe(1920); // SILK 20 ms, two frames
    expect(opusPacketSamples(Uint8Array.of((3 << 3) | 3, 3))).toBe(8640); // SILK 60 ms x3
    expect(opusPacketSamples(Uint8Array.of((13 << 3) | 2))).toBe(1920); // hybrid 20 ms, two frames
    expect(opusPacketSamples(Uint8Array.of(3))).toBe(0); // code 3 without its count byte
    expect(opusPacketSamples(new Uint8Array(0))).toBe(0);
  });
});

describe("OpusHead", () => {
  it("round-trips", () => {
    const head = opusHead({ channels: 1, preSkip: 312, inputSampleRate: 24000 });
    expect(head).toHaveLength(19);
    expect(parseOpusHead(head)).toEqual({ channels: 1, preSkip: 312, inputSampleRate: 24000, outputGain: 0 });
    expect(parseOpusHead(head.subarray(0, 18))).toBeNull();
  });
});

describe("OggOpusMuxer", () => {
  it("writes OpusHead (BOS) and OpusTags pages, then audio pages with 48 kHz granules", () => {
    const mux = new OggOpusMuxer({ channels: 1, preSkip: DEFAULT_PRE_SKIP, inputSampleRate: 24000 }, 0x1234);
    const headers = mux.headers();
    const a = mux.audio([celt20ms(), celt20ms(70)]);
    const b = mux.audio([celt20ms(50)], { eos: true });
    expect(mux.pagesWritten).toBe(4);
    const reader = new OggReader();
    const packets = [...reader.push(headers), ...reader.push(a), ...reader.push(b)];
    expect(reader.pages).toBe(4);
    expect(parseOpusHead(packets[0].data)?.preSkip).toBe(312);
    expect(packets[0].bos).toBe(true);
    expect(packets[0].granule).toBe(0n);
    expect(isOpusTags(packets[1].data)).toBe(true);
    expect(packets[1].granule).toBe(0n);
    expect(packets.slice(2).map((p) => p.data.length)).toEqual([60, 70, 50]);
    expect(packets[3].granule).toBe(312n + 1920n);
    expect(packets[4].granule).toBe(312n + 2880n);
    expect(packets[4].eos).toBe(true);
  });

  it("refuses audio before the headers and headers twice", () => {
    const mux = new OggOpusMuxer({ channels: 1, preSkip: 0, inputSampleRate: 24000 }, 1);
    expect(() => mux.audio([celt20ms()])).toThrow();
    mux.headers();
    expect(() => mux.headers()).toThrow();
  });
});
