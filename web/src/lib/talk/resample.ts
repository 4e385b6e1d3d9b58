/**
 * A streaming linear resampler for mono Float32 audio: consecutive chunks join without a click because the
 * position between input samples and the last sample are carried over. Used only when the browser will not
 * run an AudioContext at 24 kHz (capture) or the decoder's rate differs from the context's (playback).
 */
export class StreamResampler {
  private readonly step: number;
  /** Position of the next output sample, in input samples, relative to the current chunk (-1 = `last`). */
  private position = 0;
  private last = 0;
  private started = false;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    this.step = fromRate / toRate;
  }

  process(input: Float32Array): Float32Array {
    if (this.fromRate === this.toRate) return input;
    if (input.length === 0) return new Float32Array(0);
    if (!this.started) {
      this.started = true;
      this.last = input[0];
    }
    const out: number[] = [];
    let pos = this.position;
    // Sample at fractional index `pos`, where -1 is the previous chunk's last sample.
    while (pos <= input.length - 1) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const a = i < 0 ? this.last : input[i];
      out.push(frac === 0 ? a : a + (input[i + 1] - a) * frac);
      pos += this.step;
    }
    this.position = pos - input.length;
    this.last = input[input.length - 1];
    return Float32Array.from(out);
  }
}
