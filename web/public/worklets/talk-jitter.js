// The Talk page's playback jitter buffer, shared by the playback AudioWorklet (talk-playback.js) and its
// unit test (src/lib/talk/jitter.test.ts); types in talk-jitter.d.ts. Plain JavaScript because an
// AudioWorklet module is loaded by the browser as it is, without the app's build.
//
// Decoded chunks go in as they come; the audio thread pulls exactly one render quantum at a time. Playback
// starts once `startFrames` are buffered; when the buffer runs dry mid-play the rest of the quantum is
// silence, an underrun is counted and it buffers again. Above `maxFrames` the oldest audio is dropped so
// the delay stays bounded. Consecutive chunks are played back to back: no gap between decoded frames.

export class JitterBuffer {
  constructor(startFrames, maxFrames) {
    this.startFrames = startFrames;
    this.maxFrames = maxFrames;
    this.chunks = [];
    this.offset = 0; // read position in chunks[0]
    this.buffered = 0;
    this.playing = false;
    this.underruns = 0;
    this.playedFrames = 0;
    this.droppedFrames = 0;
  }

  push(chunk) {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered > this.maxFrames && this.chunks.length > 1) {
      const dropped = this.chunks.shift();
      const left = dropped.length - this.offset;
      this.buffered -= left;
      this.droppedFrames += left;
      this.offset = 0;
    }
    if (!this.playing && this.buffered >= this.startFrames) this.playing = true;
  }

  /** Fill `out` (one render quantum); returns how many frames were real audio. */
  pull(out) {
    if (!this.playing) {
      out.fill(0);
      return 0;
    }
    let written = 0;
    while (written < out.length && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const n = Math.min(out.length - written, chunk.length - this.offset);
      out.set(chunk.subarray(this.offset, this.offset + n), written);
      written += n;
      this.offset += n;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    this.buffered -= written;
    this.playedFrames += written;
    if (written < out.length) {
      out.fill(0, written);
      this.playing = false;
      this.underruns += 1;
    }
    return written;
  }

  clear() {
    this.chunks = [];
    this.offset = 0;
    this.buffered = 0;
    this.playing = false;
  }
}
