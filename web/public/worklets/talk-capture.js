// AudioWorklet: the microphone's samples (first channel, at the context's rate) posted to the page in
// 20 ms frames. Resampling, level, encoding and sending happen on the page.
class TalkCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 50);
    this.frame = new Float32Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    let read = 0;
    while (read < input.length) {
      const n = Math.min(input.length - read, this.frame.length - this.filled);
      this.frame.set(input.subarray(read, read + n), this.filled);
      this.filled += n;
      read += n;
      if (this.filled === this.frame.length) {
        this.port.postMessage(this.frame, [this.frame.buffer]); // transferred: this.frame is now empty
        this.frame = new Float32Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("talk-capture", TalkCapture);
