import { describe, expect, it } from "vitest";

import { HEADER_BOS, HEADER_CONTINUED, HEADER_EOS, NO_GRANULE, OggReader, OggWriter, oggCrc32, writePage } from "./ogg";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
// The OpusHead page written by sphn 0.2 (Rust `ogg` crate + libopus), the server's own Ogg writer.
const SPHN_OPUS_HEAD_PAGE = hex(
  "4f676753000200000000000000002a00000000000000aefef3f101134f707573486561640101000f80bb0000000000",
);
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("oggCrc32", () => {
  it("matches a known-good page (CRC field zeroed)", () => {
    const page = SPHN_OPUS_HEAD_PAGE.slice();
    page.fill(0, 22, 26);
    expect(oggCrc32(page)).toBe(0xf1f3feae);
  });

  it("is the non-reflected 0x04c11db7 CRC with zero init", () => {
    expect(oggCrc32(new Uint8Array(0))).toBe(0);
    expect(oggCrc32(Uint8Array.of(0x01))).toBe(0x04c11db7);
  });
});

describe("writePage", () => {
  it("writes the known-good page byte for byte", () => {
    const body = SPHN_OPUS_HEAD_PAGE.subarray(28);
    const page = writePage({ headerType: HEADER_BOS, granule: 0n, serial: 42, sequence: 0, segments: [19], body });
    expect(Array.from(page)).toEqual(Array.from(SPHN_OPUS_HEAD_PAGE));
  });
});

describe("OggWriter + OggReader", () => {
  it("round-trips packets with granules, BOS, EOS and sequence numbers", () => {
    const writer = new OggWriter(7);
    const packets = [bytes(10), bytes(255, 2), bytes(0), bytes(600, 3), bytes(510, 4)];
    const first = writer.pages(packets.slice(0, 2).map((data, i) => ({ data, granule: BigInt(960 * (i + 1)) })));
    const second = writer.pages(packets.slice(2).map((data, i) => ({ data, granule: BigInt(960 * (i + 3)) })), { eos: true });
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(1);
    expect(first[0][5]).toBe(HEADER_BOS);
    expect(second[0][5]).toBe(HEADER_EOS);
    expect(new DataView(second[0].buffer).getUint32(18, true)).toBe(1);
    expect(writer.pagesWritten).toBe(2);

    const reader = new OggReader();
    const out = [...reader.push(first[0]), ...reader.push(second[0])];
    expect(out.map((p) => Array.from(p.data))).toEqual(packets.map((p) => Array.from(p)));
    expect(out.map((p) => p.granule)).toEqual([NO_GRANULE, 1920n, NO_GRANULE, NO_GRANULE, 4800n]);
    expect(out[0].bos).toBe(true);
    expect(out[4].eos).toBe(true);
    expect(out.every((p) => p.serial === 7)).toBe(true);
    expect(reader.badPages).toBe(0);
  });

  it("continues a packet that does not fit on the next page", () => {
    const writer = new OggWriter(1, 4); // 4 lacing values per page
    const big = bytes(255 * 6 + 3);
    const pages = writer.pages([{ data: bytes(5), granule: 960n }, { data: big, granule: 1920n }]);
    expect(pages).toHaveLength(2);
    expect(pages[0][5] & HEADER_CONTINUED).toBe(0);
    expect(pages[1][5] & HEADER_CONTINUED).toBe(HEADER_CONTINUED);
    // The first page ends only the small packet; the second ends the big one.
    expect(new DataView(pages[0].buffer).getBigInt64(6, true)).toBe(960n);
    expect(new DataView(pages[1].buffer).getBigInt64(6, true)).toBe(1920n);
    const reader = new OggReader();
    const out = pages.flatMap((p) => reader.push(p));
    expect(out.map((p) => p.data.length)).toEqual([5, big.length]);
    expect(Array.from(out[1].data)).toEqual(Array.from(big));
  });

  it("gives a page no packet ends on the granule -1", () => {
    const writer = new OggWriter(1, 2);
    const pages = writer.pages([{ data: bytes(255 * 5), granule: 960n }]);
    expect(pages).toHaveLength(3);
    expect(new DataView(pages[0].buffer).getBigInt64(6, true)).toBe(-1n);
    expect(new DataView(pages[2].buffer).getBigInt64(6, true)).toBe(960n);
  });

  it("reads pages split anywhere across pushes, one byte at a time too", () => {
    const writer = new OggWriter(3, 3);
    const packets = [bytes(100), bytes(800, 5), bytes(3), bytes(256, 9)];
    const stream = concatAll(writer.pages(packets.map((data, i) => ({ data, granule: BigInt(i + 1) }))));
    for (const size of [1, 2, 7, 27, 28, 300, stream.length]) {
      const reader = new OggReader();
      const out = [];
      for (let i = 0; i < stream.length; i += size) out.push(...reader.push(stream.subarray(i, i + size)));
      expect(out.map((p) => Array.from(p.data))).toEqual(packets.map((p) => Array.from(p)));
    }
  });

  it("skips garbage and pages with a bad CRC, and drops a continuation whose start was lost", () => {
    const writer = new OggWriter(3, 2);
    const pages = writer.pages([{ data: bytes(20), granule: 1n }, { data: bytes(700), granule: 2n }, { data: bytes(9), granule: 3n }]);
    const corrupt = pages[1].slice();
    corrupt[corrupt.length - 1] ^= 0xff;
    const reader = new OggReader();
    const out = reader.push(concatAll([Uint8Array.of(1, 2, 3, 0x4f), pages[0], corrupt, ...pages.slice(2)]));
    expect(reader.badPages).toBe(1);
    expect(reader.skippedBytes).toBeGreaterThan(3);
    // 20 bytes survives; the 700-byte packet lost its middle; the 9-byte one is whole again.
    expect(out.map((p) => p.data.length)).toEqual([20, 9]);
  });
});

function concatAll(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
