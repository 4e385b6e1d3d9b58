/**
 * A turn's audio as a WAV file for the speech-to-text route: 16-bit PCM, mono, at 16 kHz (what the model
 * wants). Pure: samples in, bytes out.
 */
import { StreamResampler } from "./resample";

/** The rate the speech-to-text model wants. */
export const WAV_RATE = 16_000;
/** RIFF header + fmt chunk + data chunk header. */
export const WAV_HEADER_BYTES = 44;

/** One sample in [-1, 1] as a signed 16-bit integer: clipped, NaN as silence, -1 → -32768, 1 → 32767. */
export function toInt16(value: number): number {
  if (Number.isNaN(value)) return 0;
  const v = Math.max(-1, Math.min(1, value));
  return v < 0 ? Math.round(v * 32768) : Math.round(v * 32767);
}

/** A mono 16-bit PCM WAV file of `samples` (Float32 in [-1, 1]) at `sampleRate`. */
export function encodeWav(samples: Float32Array, sampleRate: number): Uint8Array<ArrayBuffer> {
  const dataBytes = samples.length * 2;
  const bytes = new Uint8Array(WAV_HEADER_BYTES + dataBytes);
  const view = new DataView(bytes.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i += 1) bytes[offset + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i += 1) view.setInt16(WAV_HEADER_BYTES + i * 2, toInt16(samples[i]), true);
  return bytes;
}

/** `samples` at `fromRate` as a 16 kHz WAV file (resampled linearly when the rates differ). */
export function turnWav(samples: Float32Array, fromRate: number): Uint8Array<ArrayBuffer> {
  const at16k = fromRate === WAV_RATE ? samples : new StreamResampler(fromRate, WAV_RATE).process(samples);
  return encodeWav(at16k, WAV_RATE);
}
