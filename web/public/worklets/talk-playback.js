// AudioWorklet: plays the model's decoded audio (mono Float32 chunks posted by the page at the context's
// rate) through a jitter buffer, and reports what it played to the page about 10 times a second.
import { JitterBuffer } from "./talk-jitter.js";

class TalkPlayback extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const startMs = options?.processorOptions?.startMs ?? 120;
    const maxMs = options?.processorOptions?.maxMs ?? 2000;
    this.buffer = new JitterBuffer(Math.round((sampleRate * startMs) / 1000), Math.round((sampleRate * maxMs) / 1000));
    this.sinceReport = 0;
    this.energy = 0;
    this.energyFrames = 0;
    this.port.onmessage = (event) => {
      if (event.data === "clear") this.buffer.clear();
      else if (event.data instanceof Float32Array) this.buffer.push(event.data);
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!out) return true;
    this.buffer.pull(out);
    for (let i = 0; i < out.length; i += 1) this.energy += out[i] * out[i];
    this.energyFrames += out.length;
    for (let c = 1; c < outputs[0].length; c += 1) outputs[0][c].set(out);
    this.sinceReport += out.length;
    if (this.sinceReport >= sampleRate / 10) {
      const b = this.buffer;
      this.port.postMessage({
        playedFrames: b.playedFrames,
        underruns: b.underruns,
        bufferedFrames: b.buffered,
        droppedFrames: b.droppedFrames,
        rms: Math.sqrt(this.energy / Math.max(1, this.energyFrames)),
        sampleRate,
      });
      this.sinceReport = 0;
      this.energy = 0;
      this.energyFrames = 0;
    }
    return true;
  }
}

registerProcessor("talk-playback", TalkPlayback);
