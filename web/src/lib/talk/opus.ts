/**
 * Ogg Opus (RFC 7845) on top of ogg.ts: the OpusHead and OpusTags header packets, packet durations from
 * the TOC byte (RFC 6716 section 3.1), and a muxer whose granule positions count 48 kHz samples.
 */
import { OggWriter, type WriterPacket } from "./ogg";

/** Granule positions and pre-skip are always in 48 kHz samples, whatever the input rate. */
export const GRANULE_RATE = 48_000;
/** libopus' look-ahead (6.5 ms) in 48 kHz samples: the usual pre-skip when the encoder does not say. */
export const DEFAULT_PRE_SKIP = 312;

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const OPUS_HEAD = ascii("OpusHead");
const OPUS_TAGS = ascii("OpusTags");

export interface OpusHead {
  channels: number;
  preSkip: number;
  inputSampleRate: number;
  outputGain: number;
}

/** The 19-byte identification header (mapping family 0: mono or stereo). */
export function opusHead({ channels, preSkip, inputSampleRate, outputGain = 0 }: Omit<OpusHead, "outputGain"> & { outputGain?: number }): Uint8Array {
  const out = new Uint8Array(19);
  const view = new DataView(out.buffer);
  out.set(OPUS_HEAD, 0);
  out[8] = 1; // version
  out[9] = channels;
  view.setUint16(10, preSkip, true);
  view.setUint32(12, inputSampleRate, true);
  view.setInt16(16, outputGain, true);
  out[18] = 0; // channel mapping family
  return out;
}

export function parseOpusHead(packet: Uint8Array): OpusHead | null {
  if (packet.length < 19 || !startsWith(packet, OPUS_HEAD)) return null;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  return {
    channels: packet[9],
    preSkip: view.getUint16(10, true),
    inputSampleRate: view.getUint32(12, true),
    outputGain: view.getInt16(16, true),
  };
}

/** The comment header: a vendor string and no comments. */
export function opusTags(vendor: string): Uint8Array {
  const vendorBytes = new TextEncoder().encode(vendor);
  const out = new Uint8Array(8 + 4 + vendorBytes.length + 4);
  const view = new DataView(out.buffer);
  out.set(OPUS_TAGS, 0);
  view.setUint32(8, vendorBytes.length, true);
  out.set(vendorBytes, 12);
  view.setUint32(12 + vendorBytes.length, 0, true);
  return out;
}

export function isOpusTags(packet: Uint8Array): boolean {
  return startsWith(packet, OPUS_TAGS);
}

/** How many 48 kHz samples an Opus packet decodes to (from its TOC byte and frame count), 0 if malformed. */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length < 1) return 0;
  const toc = packet[0];
  const config = toc >> 3;
  let frame: number; // in 48 kHz samples
  if (config < 12) frame = [480, 960, 1920, 2880][config % 4]; // SILK: 10, 20, 40, 60 ms
  else if (config < 16) frame = [480, 960][config % 2]; // hybrid: 10, 20 ms
  else frame = [120, 240, 480, 960][config % 4]; // CELT: 2.5, 5, 10, 20 ms
  const code = toc & 0x03;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else if (packet.length < 2) return 0;
  else frames = packet[1] & 0x3f;
  return frames * frame;
}

/**
 * Encoded Opus packets in, Ogg pages out: `headers()` once (OpusHead on the BOS page, OpusTags on the
 * next), then `audio(packets)` for each batch (one page unless it is very large). Granule positions are
 * pre-skip + the 48 kHz samples of every packet so far, as RFC 7845 section 4 asks.
 */
export class OggOpusMuxer {
  private readonly writer: OggWriter;
  private granule: bigint;
  private headersWritten = false;

  constructor(
    private readonly head: Omit<OpusHead, "outputGain">,
    serial: number,
    private readonly vendor = "local-ai-studio talk (WebCodecs)",
  ) {
    this.writer = new OggWriter(serial);
    this.granule = BigInt(head.preSkip);
  }

  /** OpusHead and OpusTags, each on its own page (the spec requires both), as one byte string. */
  headers(): Uint8Array {
    if (this.headersWritten) throw new Error("the Ogg Opus headers were already written");
    this.headersWritten = true;
    const [head] = this.writer.pages([{ data: opusHead(this.head), granule: 0n }]);
    const [tags] = this.writer.pages([{ data: opusTags(this.vendor), granule: 0n }]);
    const out = new Uint8Array(head.length + tags.length);
    out.set(head, 0);
    out.set(tags, head.length);
    return out;
  }

  /** One or more pages holding these packets (durations read from each packet's TOC byte). */
  audio(packets: readonly Uint8Array[], { eos = false } = {}): Uint8Array {
    if (!this.headersWritten) throw new Error("write the Ogg Opus headers first");
    const laid: WriterPacket[] = packets.map((data) => {
      this.granule += BigInt(opusPacketSamples(data));
      return { data, granule: this.granule };
    });
    const pages = this.writer.pages(laid, { eos });
    const out = new Uint8Array(pages.reduce((sum, p) => sum + p.length, 0));
    let offset = 0;
    for (const page of pages) {
      out.set(page, offset);
      offset += page.length;
    }
    return out;
  }

  get granulePosition(): bigint {
    return this.granule;
  }

  get pagesWritten(): number {
    return this.writer.pagesWritten;
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  return prefix.every((b, i) => bytes[i] === b);
}
