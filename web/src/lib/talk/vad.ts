/**
 * The microphone's level and a simple speech-activity detector (energy threshold + hangover), used to show
 * the person's turns beside the model's text. Moshi does not transcribe the person's speech: these segments
 * say when someone spoke; each ended segment's audio is then sent to the speech-to-text route for the words.
 */

/** RMS of a frame of samples in [-1, 1]. */
export function rms(samples: Float32Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const v of samples) sum += v * v;
  return Math.sqrt(sum / samples.length);
}

/** A level 0-1 for a meter: -60 dBFS and below is empty, 0 dBFS is full. */
export function meterLevel(rmsValue: number): number {
  if (rmsValue <= 0) return 0;
  const db = 20 * Math.log10(rmsValue);
  return Math.min(1, Math.max(0, (db + 60) / 60));
}

export interface VadOptions {
  /** RMS above which a frame counts as speech (0.02 ≈ -34 dBFS, after the browser's noise suppression). */
  threshold: number;
  /** Silence that ends a segment. */
  hangoverMs: number;
  /** Shorter bursts (clicks, taps) are not reported. */
  minSpeechMs: number;
}

export const DEFAULT_VAD: VadOptions = { threshold: 0.02, hangoverMs: 500, minSpeechMs: 150 };

export type VadEvent =
  | { type: "start"; atMs: number }
  | { type: "update"; startMs: number; durationMs: number }
  | { type: "end"; startMs: number; durationMs: number };

/**
 * Frames in (their RMS, start time and length), segment events out: "start" once speech has lasted
 * `minSpeechMs`, "update" on each later speech frame, "end" after `hangoverMs` of silence (the
 * duration excludes the hangover).
 */
export class SpeechSegmenter {
  private speechStart: number | null = null;
  private lastSpeechEnd = 0;
  private reported = false;

  constructor(private readonly options: VadOptions = DEFAULT_VAD) {}

  get speaking(): boolean {
    return this.reported;
  }

  /** The conversation stops: end a reported segment now (null when none runs). */
  flush(): VadEvent | null {
    const event: VadEvent | null = this.reported && this.speechStart !== null
      ? { type: "end", startMs: this.speechStart, durationMs: this.lastSpeechEnd - this.speechStart }
      : null;
    this.speechStart = null;
    this.reported = false;
    return event;
  }

  push(frameRms: number, atMs: number, frameMs: number): VadEvent | null {
    const { threshold, hangoverMs, minSpeechMs } = this.options;
    const end = atMs + frameMs;
    if (frameRms >= threshold) {
      if (this.speechStart === null) this.speechStart = atMs;
      this.lastSpeechEnd = end;
      const durationMs = end - this.speechStart;
      if (!this.reported && durationMs >= minSpeechMs) {
        this.reported = true;
        return { type: "start", atMs: this.speechStart };
      }
      return this.reported ? { type: "update", startMs: this.speechStart, durationMs } : null;
    }
    if (this.speechStart !== null && end - this.lastSpeechEnd >= hangoverMs) {
      const event: VadEvent | null = this.reported
        ? { type: "end", startMs: this.speechStart, durationMs: this.lastSpeechEnd - this.speechStart }
        : null;
      this.speechStart = null;
      this.reported = false;
      return event;
    }
    return null;
  }
}
