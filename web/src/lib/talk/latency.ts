/**
 * The Talk page's timings: mic-to-first-reply latency (from the first audio page sent to the first audio
 * page and the first text piece received), elapsed time, and how much was played.
 */
export class LatencyMeter {
  firstSentAt: number | null = null;
  firstAudioAt: number | null = null;
  firstTextAt: number | null = null;

  sent(now: number): void {
    if (this.firstSentAt === null) this.firstSentAt = now;
  }

  audio(now: number): void {
    if (this.firstAudioAt === null && this.firstSentAt !== null) this.firstAudioAt = now;
  }

  text(now: number): void {
    if (this.firstTextAt === null && this.firstSentAt !== null) this.firstTextAt = now;
  }

  /** First reply audio minus first audio sent, in whole ms; null until both happened. */
  get audioMs(): number | null {
    return span(this.firstSentAt, this.firstAudioAt);
  }

  get textMs(): number | null {
    return span(this.firstSentAt, this.firstTextAt);
  }
}

function span(from: number | null, to: number | null): number | null {
  return from === null || to === null ? null : Math.max(0, Math.round(to - from));
}

/** Samples at a rate as whole milliseconds. */
export function samplesToMs(samples: number, sampleRate: number): number {
  return sampleRate > 0 ? Math.round((samples * 1000) / sampleRate) : 0;
}
