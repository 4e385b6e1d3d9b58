/**
 * The person's audio for each speech turn, kept so the turn can be transcribed after it ends. A short history
 * of the latest audio is always kept (the detector reports a turn only after it has lasted a while, so its
 * beginning is already past); while a turn runs its samples are kept too, at most `maxPieceMs`: a longer turn
 * is cut into pieces of that length, each handed out as it fills. Pure (no browser APIs).
 */

export interface TurnAudioOptions {
  sampleRate: number;
  /** The most audio one piece holds (the speech-to-text route takes short clips). */
  maxPieceMs: number;
  /** The history kept before a turn begins: it must cover the detector's delay in reporting a start. */
  historyMs: number;
}

export const DEFAULT_TURN_AUDIO: Omit<TurnAudioOptions, "sampleRate"> = { maxPieceMs: 30_000, historyMs: 1_000 };

export class TurnRecorder {
  private readonly history: Float32Array;
  private historyEnd = 0;
  private historyFilled = 0;
  private readonly piece: Float32Array;
  private filled = 0;
  private recording = false;

  constructor(private readonly options: TurnAudioOptions) {
    this.history = new Float32Array(Math.max(1, Math.round((options.historyMs * options.sampleRate) / 1000)));
    this.piece = new Float32Array(Math.max(1, Math.round((options.maxPieceMs * options.sampleRate) / 1000)));
  }

  get active(): boolean {
    return this.recording;
  }

  /** Samples held in the current piece. */
  get length(): number {
    return this.filled;
  }

  samplesFor(ms: number): number {
    return Math.max(0, Math.round((ms * this.options.sampleRate) / 1000));
  }

  /** A frame of microphone audio; returns a full piece when a turn's audio reached `maxPieceMs`, else null. */
  push(frame: Float32Array): Float32Array | null {
    this.remember(frame);
    if (!this.recording) return null;
    let out: Float32Array | null = null;
    let read = 0;
    while (read < frame.length) {
      const n = Math.min(frame.length - read, this.piece.length - this.filled);
      this.piece.set(frame.subarray(read, read + n), this.filled);
      this.filled += n;
      read += n;
      if (this.filled === this.piece.length) {
        out = this.piece.slice(); // a frame is far shorter than a piece: at most one fills per push
        this.filled = 0;
      }
    }
    return out;
  }

  /** A turn began `backMs` ago (the frames of that time were already pushed): start from there. */
  begin(backMs: number): void {
    const back = Math.min(this.samplesFor(backMs), this.historyFilled, this.piece.length);
    this.filled = 0;
    for (let i = 0; i < back; i += 1) {
      const at = (this.historyEnd - back + i + this.history.length) % this.history.length;
      this.piece[i] = this.history[at];
    }
    this.filled = back;
    this.recording = true;
  }

  /** The turn ended; returns its last piece without its final `trimMs` (the silence that ended it). */
  end(trimMs = 0): Float32Array {
    const keep = Math.max(0, this.filled - this.samplesFor(trimMs));
    const out = this.piece.slice(0, keep);
    this.filled = 0;
    this.recording = false;
    return out;
  }

  /** Forget the current turn's audio. */
  cancel(): void {
    this.filled = 0;
    this.recording = false;
  }

  private remember(frame: Float32Array): void {
    const size = this.history.length;
    const start = frame.length > size ? frame.length - size : 0;
    for (let i = start; i < frame.length; i += 1) {
      this.history[this.historyEnd] = frame[i];
      this.historyEnd = (this.historyEnd + 1) % size;
    }
    this.historyFilled = Math.min(size, this.historyFilled + frame.length - start);
  }
}
