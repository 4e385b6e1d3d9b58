/**
 * Ogg pages (RFC 3533) for the Talk page's audio: a writer that lays packets out in pages (lacing,
 * continuation, granule positions, sequence numbers, CRC) and an incremental reader that takes bytes in
 * any pieces and returns whole packets. Opus specifics (OpusHead, granule units) are in opus.ts.
 */

export const HEADER_CONTINUED = 0x01;
export const HEADER_BOS = 0x02;
export const HEADER_EOS = 0x04;
/** A page's granule position when no packet ends on it. */
export const NO_GRANULE = -1n;
const MAX_SEGMENTS = 255;
const CAPTURE = [0x4f, 0x67, 0x67, 0x53]; // "OggS"
const HEADER_BYTES = 27;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i += 1) {
    let r = i << 24;
    for (let bit = 0; bit < 8; bit += 1) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

/** Ogg's CRC-32: polynomial 0x04c11db7, not reflected, initial value 0, no final xor. */
export function oggCrc32(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
  return crc >>> 0;
}

export interface PageFields {
  headerType: number;
  granule: bigint;
  serial: number;
  sequence: number;
  /** Lacing values (each 0-255); their sum is `body.length`. */
  segments: number[];
  body: Uint8Array;
}

/** One page's bytes with its CRC filled in. */
export function writePage(page: PageFields): Uint8Array {
  if (page.segments.length > MAX_SEGMENTS) throw new RangeError("an Ogg page holds at most 255 segments");
  const out = new Uint8Array(HEADER_BYTES + page.segments.length + page.body.length);
  const view = new DataView(out.buffer);
  out.set(CAPTURE, 0);
  out[4] = 0; // stream structure version
  out[5] = page.headerType;
  view.setBigInt64(6, page.granule, true);
  view.setUint32(14, page.serial >>> 0, true);
  view.setUint32(18, page.sequence >>> 0, true);
  out[26] = page.segments.length;
  out.set(page.segments, HEADER_BYTES);
  out.set(page.body, HEADER_BYTES + page.segments.length);
  view.setUint32(22, oggCrc32(out), true);
  return out;
}

function lacing(length: number): number[] {
  const values = new Array<number>(Math.floor(length / 255)).fill(255);
  values.push(length % 255);
  return values;
}

export interface WriterPacket {
  data: Uint8Array;
  /** Granule position after this packet (the page's when the packet is the last one ending on it). */
  granule: bigint;
}

/**
 * Writes one logical stream: each `pages()` call lays its packets out on as few pages as fit (at most
 * `maxSegments` lacing values each; a packet that does not fit continues on the next page), numbering
 * pages in order. The first page written carries BOS; `eos` marks the last page of the call.
 */
export class OggWriter {
  private sequence = 0;

  constructor(
    readonly serial: number,
    private readonly maxSegments = MAX_SEGMENTS,
  ) {}

  get pagesWritten(): number {
    return this.sequence;
  }

  pages(packets: readonly WriterPacket[], { eos = false } = {}): Uint8Array[] {
    const out: Uint8Array[] = [];
    let segments: number[] = [];
    let parts: Uint8Array[] = [];
    let granule = NO_GRANULE;
    let continued = false;
    const flush = (last: boolean) => {
      let headerType = continued ? HEADER_CONTINUED : 0;
      if (this.sequence === 0) headerType |= HEADER_BOS;
      if (last && eos) headerType |= HEADER_EOS;
      out.push(writePage({ headerType, granule, serial: this.serial, sequence: this.sequence, segments, body: concat(parts) }));
      this.sequence += 1;
      segments = [];
      parts = [];
      granule = NO_GRANULE;
    };
    for (const packet of packets) {
      const values = lacing(packet.data.length);
      let offset = 0;
      for (let i = 0; i < values.length; i += 1) {
        if (segments.length === this.maxSegments) {
          flush(false);
          continued = i > 0; // this page starts in the middle of a packet
        }
        if (segments.length === 0 && i === 0) continued = false;
        segments.push(values[i]);
        parts.push(packet.data.subarray(offset, offset + values[i]));
        offset += values[i];
      }
      granule = packet.granule;
    }
    if (segments.length > 0 || (eos && out.length === 0)) flush(true);
    return out;
  }
}

export interface OggPacket {
  data: Uint8Array;
  serial: number;
  /** The page's granule when this is the last packet ending on it, else NO_GRANULE. */
  granule: bigint;
  /** The packet began on a BOS page / ended on an EOS page. */
  bos: boolean;
  eos: boolean;
}

/**
 * Incremental Ogg reader: `push()` any bytes, get the packets completed so far. A page may arrive in
 * several pushes and a packet may span pages. Bytes before a capture pattern and pages with a wrong CRC
 * are skipped (counted in `skippedBytes` / `badPages`); a continued packet whose start was lost is dropped.
 */
export class OggReader {
  skippedBytes = 0;
  badPages = 0;
  pages = 0;
  private buffer: Uint8Array = new Uint8Array(0);
  private partial: Uint8Array[] | null = null;
  private partialBos = false;

  push(bytes: Uint8Array): OggPacket[] {
    this.buffer = this.buffer.length ? concat([this.buffer, bytes]) : bytes.slice();
    const packets: OggPacket[] = [];
    let pos = 0;
    for (;;) {
      const start = findCapture(this.buffer, pos);
      if (start < 0) {
        // Keep up to 3 trailing bytes: they may be the start of "OggS".
        const keep = Math.max(pos, this.buffer.length - 3);
        this.skippedBytes += keep - pos;
        pos = keep;
        break;
      }
      this.skippedBytes += start - pos;
      pos = start;
      if (this.buffer.length < pos + HEADER_BYTES) break;
      const count = this.buffer[pos + 26];
      const headerEnd = pos + HEADER_BYTES + count;
      if (this.buffer.length < headerEnd) break;
      const segments = this.buffer.subarray(pos + HEADER_BYTES, headerEnd);
      const bodyLength = segments.reduce((sum, v) => sum + v, 0);
      if (this.buffer.length < headerEnd + bodyLength) break;
      const page = this.buffer.subarray(pos, headerEnd + bodyLength);
      if (!crcMatches(page)) {
        this.badPages += 1;
        this.skippedBytes += 1;
        pos += 1;
        continue;
      }
      this.pages += 1;
      this.readPage(page, segments, headerEnd - pos, packets);
      pos += page.length;
    }
    this.buffer = this.buffer.slice(pos);
    return packets;
  }

  private readPage(page: Uint8Array, segments: Uint8Array, headerLength: number, packets: OggPacket[]): void {
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    const headerType = page[5];
    const granule = view.getBigInt64(6, true);
    const serial = view.getUint32(14, true);
    const bos = (headerType & HEADER_BOS) !== 0;
    const eos = (headerType & HEADER_EOS) !== 0;
    if (!(headerType & HEADER_CONTINUED)) this.partial = null; // a lost continuation: drop it
    let skipping = (headerType & HEADER_CONTINUED) !== 0 && this.partial === null;
    let offset = headerLength;
    const ended: number[] = [];
    for (let i = 0; i < segments.length; i += 1) {
      const piece = page.subarray(offset, offset + segments[i]);
      offset += segments[i];
      if (!skipping) {
        if (this.partial === null) {
          this.partial = [];
          this.partialBos = bos;
        }
        this.partial.push(piece);
      }
      if (segments[i] < 255) {
        if (!skipping && this.partial) {
          packets.push({ data: concat(this.partial), serial, granule: NO_GRANULE, bos: this.partialBos, eos: false });
          ended.push(packets.length - 1);
        }
        this.partial = null;
        skipping = false;
      }
    }
    if (ended.length) {
      const last = packets[ended[ended.length - 1]];
      last.granule = granule;
      last.eos = eos;
    }
  }
}

function crcMatches(page: Uint8Array): boolean {
  const copy = page.slice();
  const view = new DataView(copy.buffer);
  const stored = view.getUint32(22, true);
  view.setUint32(22, 0, true);
  return oggCrc32(copy) === stored;
}

function findCapture(buffer: Uint8Array, from: number): number {
  for (let i = from; i + 3 < buffer.length; i += 1) {
    if (buffer[i] === 0x4f && buffer[i + 1] === 0x67 && buffer[i + 2] === 0x67 && buffer[i + 3] === 0x53) return i;
  }
  return -1;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0].slice();
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
