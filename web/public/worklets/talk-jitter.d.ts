/** Types of talk-jitter.js (a plain-JavaScript module the playback AudioWorklet imports). */
export class JitterBuffer {
  constructor(startFrames: number, maxFrames: number);
  readonly startFrames: number;
  readonly maxFrames: number;
  buffered: number;
  playing: boolean;
  underruns: number;
  playedFrames: number;
  droppedFrames: number;
  push(chunk: Float32Array): void;
  pull(out: Float32Array): number;
  clear(): void;
}
