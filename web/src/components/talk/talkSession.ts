/**
 * One spoken conversation in the browser: microphone → capture worklet → WebCodecs Opus encoder → Ogg pages
 * → WebSocket, and WebSocket → Ogg reader → Opus decoder → playback worklet (jitter buffer) → speakers.
 * No React here; useTalk.ts turns its callbacks into state. The pure parts live in src/lib/talk/.
 */
import { LatencyMeter } from "@/lib/talk/latency";
import { OggReader } from "@/lib/talk/ogg";
import { DEFAULT_PRE_SKIP, isOpusTags, OggOpusMuxer, opusPacketSamples, parseOpusHead } from "@/lib/talk/opus";
import {
  closeOutcome,
  decodeServerMessage,
  encodeAudio,
  micProblem,
  problemFromServerError,
  realtimeUrl,
  type Problem,
} from "@/lib/talk/protocol";
import { StreamResampler } from "@/lib/talk/resample";
import { MIN_TURN_MS } from "@/lib/talk/transcribe";
import { DEFAULT_TURN_AUDIO, TurnRecorder } from "@/lib/talk/turnAudio";
import { rms, SpeechSegmenter, type VadEvent } from "@/lib/talk/vad";

/** The protocol's audio: 24 kHz mono Opus both ways. */
export const SAMPLE_RATE = 24_000;
/** Packets per Ogg page sent: 2 × 20 ms, well under the protocol's 80 ms. */
const PACKETS_PER_PAGE = 2;
const ENCODER_CONFIG: AudioEncoderConfig = {
  codec: "opus",
  sampleRate: SAMPLE_RATE,
  numberOfChannels: 1,
  bitrate: 32_000,
  opus: { frameDuration: 20_000 },
};
const DECODER_CONFIG: AudioDecoderConfig = { codec: "opus", sampleRate: SAMPLE_RATE, numberOfChannels: 1 };
/** Audio kept before a turn's first speech frame and after its last (the detector's threshold cuts soft edges). */
const TURN_LEAD_MS = 150;
const TURN_TAIL_MS = 250;
const MIC_CONSTRAINTS: MediaStreamConstraints = {
  audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
};

export type Phase = "idle" | "starting" | "connecting" | "live" | "stopping";

export interface Stats {
  elapsedMs: number;
  micRms: number;
  modelRms: number;
  latencyMs: number | null;
  textLatencyMs: number | null;
  playedMs: number;
  underruns: number;
  pagesSent: number;
}

/** A piece of the person's turn to transcribe: a whole turn, or 30 s of a longer one (then more follow). */
export interface UserAudio {
  /** The turn's start, as in its speech events. */
  startMs: number;
  samples: Float32Array;
  sampleRate: number;
  /** The turn's last piece. */
  last: boolean;
}

export interface SessionEvents {
  phase(phase: Phase): void;
  text(piece: string, atMs: number): void;
  speech(event: VadEvent): void;
  /** A turn (or a piece of a long one) ended: its audio, for the speech-to-text route. */
  userAudio(piece: UserAudio): void;
  /** The conversation is over; `problem` null when nothing needs saying. */
  ended(end: { problem: Problem | null; handshaken: boolean; checkStatus: boolean; message: string | null }): void;
}

/** Whether this browser can run the page, or the problem to show. */
export async function browserSupport(): Promise<{ problem: Problem | null; encoder: AudioEncoderConfig | null }> {
  const none = { encoder: null };
  if (!window.isSecureContext) return { problem: "mic_insecure", ...none };
  if (!navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === "undefined" || typeof WebSocket === "undefined") {
    return { problem: "no_audio_support", ...none };
  }
  if (typeof AudioEncoder === "undefined" || typeof AudioDecoder === "undefined") return { problem: "no_webcodecs", ...none };
  try {
    const decoder = await AudioDecoder.isConfigSupported(DECODER_CONFIG);
    if (!decoder.supported) return { problem: "no_webcodecs", ...none };
    for (const config of [ENCODER_CONFIG, { ...ENCODER_CONFIG, opus: undefined }]) {
      const support = await AudioEncoder.isConfigSupported(config);
      if (support.supported) return { problem: null, encoder: config };
    }
  } catch {
    // fall through
  }
  return { problem: "no_webcodecs", ...none };
}

function toBytes(source: AllowSharedBufferSource | undefined): Uint8Array | null {
  if (!source) return null;
  if (source instanceof ArrayBuffer || source instanceof SharedArrayBuffer) return new Uint8Array(source);
  return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
}

export class TalkSession {
  private stream: MediaStream | null = null;
  private context: AudioContext | null = null;
  private capture: AudioWorkletNode | null = null;
  private playback: AudioWorkletNode | null = null;
  private ws: WebSocket | null = null;
  private encoder: AudioEncoder | null = null;
  private decoder: AudioDecoder | null = null;
  private muxer: OggOpusMuxer | null = null;
  private pending: Uint8Array[] = [];
  private readonly reader = new OggReader();
  private readonly latency = new LatencyMeter();
  private readonly vad = new SpeechSegmenter();
  private readonly turnAudio = new TurnRecorder({ sampleRate: SAMPLE_RATE, ...DEFAULT_TURN_AUDIO });
  /** The running turn's start and how many of its pieces were handed out. */
  private turn: { startMs: number; pieces: number } | null = null;
  private micResampler: StreamResampler | null = null;
  private playResampler: StreamResampler | null = null;
  private startedAt = 0;
  private samplesEncoded = 0;
  private decodedUs = 0;
  private handshaken = false;
  private stopRequested = false;
  private serverProblem: Problem | null = null;
  private serverMessage: string | null = null;
  private finished = false;
  private readonly stats: Stats = {
    elapsedMs: 0, micRms: 0, modelRms: 0, latencyMs: null, textLatencyMs: null, playedMs: 0, underruns: 0, pagesSent: 0,
  };

  constructor(
    private readonly events: SessionEvents,
    private readonly encoderConfig: AudioEncoderConfig,
  ) {}

  /** Microphone first (so a refusal costs no conversation slot), then the audio graph, then the socket. */
  async start(): Promise<void> {
    this.events.phase("starting");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia(MIC_CONSTRAINTS);
    } catch (err) {
      this.finish(micProblem(err), err instanceof Error ? err.message : String(err), false);
      return;
    }
    if (this.finished) return this.teardown();
    try {
      await this.openAudio(this.stream);
    } catch (err) {
      this.finish("no_audio_support", err instanceof Error ? err.message : String(err), false);
      return;
    }
    if (this.finished) return this.teardown();
    this.events.phase("connecting");
    this.startedAt = performance.now();
    const ws = new WebSocket(realtimeUrl(window.location));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (event) => this.onMessage(event.data);
    ws.onclose = (event) => this.onClose(event.code, event.reason);
    this.ws = ws;
  }

  /** The person's Stop (or leaving the page): close normally and release everything. */
  stop(): void {
    if (this.finished) return;
    this.stopRequested = true;
    this.events.phase("stopping");
    const ws = this.ws;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) ws.close(1000, "stopped");
    this.finish(null, null, false);
  }

  snapshot(): Stats {
    this.stats.elapsedMs = this.startedAt && this.handshaken ? performance.now() - this.startedAt : this.stats.elapsedMs;
    this.stats.latencyMs = this.latency.audioMs;
    this.stats.textLatencyMs = this.latency.textMs;
    return { ...this.stats };
  }

  private async openAudio(stream: MediaStream): Promise<void> {
    let context: AudioContext;
    try {
      context = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
    } catch {
      context = new AudioContext({ latencyHint: "interactive" });
    }
    this.context = context;
    await context.resume();
    await context.audioWorklet.addModule("/worklets/talk-capture.js");
    await context.audioWorklet.addModule("/worklets/talk-playback.js");
    if (context.sampleRate !== SAMPLE_RATE) this.micResampler = new StreamResampler(context.sampleRate, SAMPLE_RATE);
    const capture = new AudioWorkletNode(context, "talk-capture", {
      numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: "explicit",
    });
    capture.port.onmessage = (event: MessageEvent<Float32Array>) => this.onMicFrame(event.data);
    context.createMediaStreamSource(stream).connect(capture);
    const playback = new AudioWorkletNode(context, "talk-playback", {
      numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { startMs: 120, maxMs: 2000 },
    });
    playback.port.onmessage = (event: MessageEvent<{ playedFrames: number; underruns: number; rms: number; sampleRate: number }>) => {
      const s = event.data;
      this.stats.playedMs = Math.round((s.playedFrames * 1000) / s.sampleRate);
      this.stats.underruns = s.underruns;
      this.stats.modelRms = s.rms;
    };
    playback.connect(context.destination);
    this.capture = capture;
    this.playback = playback;
  }

  private onMicFrame(frame: Float32Array): void {
    if (this.finished) return;
    const samples = this.micResampler ? this.micResampler.process(frame) : frame;
    const level = rms(samples);
    this.stats.micRms = level;
    if (!this.handshaken || !this.encoder || samples.length === 0) return;
    const frameMs = (samples.length * 1000) / SAMPLE_RATE;
    const frameEndMs = performance.now() - this.startedAt;
    const event = this.vad.push(level, frameEndMs - frameMs, frameMs);
    if (event) this.events.speech(event);
    this.keepTurnAudio(samples, event, frameEndMs);
    const data = new AudioData({
      format: "f32", sampleRate: SAMPLE_RATE, numberOfFrames: samples.length, numberOfChannels: 1,
      timestamp: Math.round((this.samplesEncoded * 1e6) / SAMPLE_RATE), data: samples as Float32Array<ArrayBuffer>,
    });
    this.samplesEncoded += samples.length;
    this.encoder.encode(data);
    data.close();
  }

  /** The person's audio per turn: from a little before its start to a little after its last speech. */
  private keepTurnAudio(samples: Float32Array, event: VadEvent | null, frameEndMs: number): void {
    const full = this.turnAudio.push(samples);
    if (full && this.turn) this.handOut(this.turn, full, false);
    if (event?.type === "start") {
      this.turn = { startMs: event.atMs, pieces: 0 };
      this.turnAudio.begin(frameEndMs - event.atMs + TURN_LEAD_MS);
    } else if (event?.type === "end") {
      const speechEndMs = event.startMs + event.durationMs;
      this.endTurn(this.turnAudio.end(Math.max(0, frameEndMs - speechEndMs - TURN_TAIL_MS)), event.durationMs);
    }
  }

  private endTurn(last: Float32Array, durationMs: number): void {
    const turn = this.turn;
    this.turn = null;
    if (!turn) return;
    // Too short to hold words (a cough, a click): not sent; nor a long turn's last scrap.
    if (turn.pieces === 0 && durationMs < MIN_TURN_MS) return;
    if ((last.length * 1000) / SAMPLE_RATE < MIN_TURN_MS) return;
    this.handOut(turn, last, true);
  }

  private handOut(turn: { startMs: number; pieces: number }, samples: Float32Array, last: boolean): void {
    turn.pieces += 1;
    this.events.userAudio({ startMs: turn.startMs, samples, sampleRate: SAMPLE_RATE, last });
  }

  private onEncoded(chunk: EncodedAudioChunk, meta?: EncodedAudioChunkMetadata): void {
    const ws = this.ws;
    if (this.finished || !ws || ws.readyState !== WebSocket.OPEN) return;
    if (!this.muxer) {
      const head = parseOpusHead(toBytes(meta?.decoderConfig?.description) ?? new Uint8Array(0));
      const preSkip = head?.preSkip ?? DEFAULT_PRE_SKIP;
      this.muxer = new OggOpusMuxer({ channels: 1, preSkip, inputSampleRate: SAMPLE_RATE }, (Math.random() * 2 ** 32) >>> 0);
      ws.send(encodeAudio(this.muxer.headers()));
    }
    const packet = new Uint8Array(chunk.byteLength);
    chunk.copyTo(packet);
    this.pending.push(packet);
    if (this.pending.length < PACKETS_PER_PAGE) return;
    ws.send(encodeAudio(this.muxer.audio(this.pending)));
    this.pending = [];
    this.stats.pagesSent += 1;
    this.latency.sent(performance.now());
  }

  private onMessage(data: unknown): void {
    if (this.finished || !(data instanceof ArrayBuffer)) return;
    const message = decodeServerMessage(data);
    if (!message) return;
    switch (message.type) {
      case "handshake":
        if (this.handshaken) return;
        this.handshaken = true;
        this.startedAt = performance.now();
        this.openCodecs();
        this.events.phase("live");
        return;
      case "audio":
        this.latency.audio(performance.now());
        this.playAudio(message.data);
        return;
      case "text":
        this.latency.text(performance.now());
        this.events.text(message.text, performance.now() - this.startedAt);
        return;
      case "error":
        this.serverMessage = message.message;
        this.serverProblem = problemFromServerError(message.message);
        return;
      default:
        return;
    }
  }

  private openCodecs(): void {
    this.encoder = new AudioEncoder({
      output: (chunk, meta) => this.onEncoded(chunk, meta),
      error: (err) => this.fail("no_webcodecs", err.message),
    });
    this.encoder.configure(this.encoderConfig);
    this.decoder = new AudioDecoder({
      output: (audio) => this.onDecoded(audio),
      error: (err) => this.fail("malformed", err.message),
    });
  }

  private playAudio(bytes: Uint8Array): void {
    const decoder = this.decoder;
    if (!decoder) return;
    for (const packet of this.reader.push(bytes)) {
      const head = parseOpusHead(packet.data);
      if (head) {
        if (decoder.state !== "closed") decoder.configure({ ...DECODER_CONFIG, numberOfChannels: head.channels, description: packet.data });
        continue;
      }
      if (isOpusTags(packet.data)) continue;
      if (decoder.state === "unconfigured") decoder.configure(DECODER_CONFIG);
      if (decoder.state !== "configured") return;
      decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: this.decodedUs, data: packet.data }));
      this.decodedUs += Math.round((opusPacketSamples(packet.data) * 1e6) / 48_000);
    }
  }

  private onDecoded(audio: AudioData): void {
    const playback = this.playback;
    const context = this.context;
    if (this.finished || !playback || !context) {
      audio.close();
      return;
    }
    const frames = new Float32Array(audio.numberOfFrames);
    audio.copyTo(frames, { planeIndex: 0, format: "f32-planar" });
    const rate = audio.sampleRate;
    audio.close();
    if (rate !== context.sampleRate && (!this.playResampler || this.playResampler.fromRate !== rate)) {
      this.playResampler = new StreamResampler(rate, context.sampleRate);
    }
    const out = rate === context.sampleRate ? frames : this.playResampler!.process(frames);
    playback.port.postMessage(out, [out.buffer]);
  }

  private onClose(code: number, reason: string): void {
    if (this.finished) return;
    const { problem, checkStatus } = closeOutcome({
      code, handshaken: this.handshaken, stopRequested: this.stopRequested, serverProblem: this.serverProblem,
    });
    this.finish(problem, this.serverMessage ?? (reason || null), checkStatus);
  }

  private fail(problem: Problem, message: string): void {
    if (this.finished) return;
    this.ws?.close(1000, "client error");
    this.finish(problem, message, false);
  }

  private finish(problem: Problem | null, message: string | null, checkStatus: boolean): void {
    if (this.finished) return;
    this.finished = true;
    // A turn still running when the conversation ends is over too: show it ended and send its words.
    const open = this.vad.flush();
    if (open?.type === "end") {
      this.events.speech(open);
      this.endTurn(this.turnAudio.end(), open.durationMs);
    }
    this.snapshot();
    this.teardown();
    this.events.phase("idle");
    this.events.ended({ problem, handshaken: this.handshaken, checkStatus, message });
  }

  private teardown(): void {
    const ws = this.ws;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, "stopped");
    }
    for (const codec of [this.encoder, this.decoder]) {
      if (codec && codec.state !== "closed") codec.close();
    }
    this.stream?.getTracks().forEach((track) => track.stop());
    if (this.capture) this.capture.port.onmessage = null;
    if (this.playback) this.playback.port.onmessage = null;
    this.capture?.disconnect();
    this.playback?.disconnect();
    void this.context?.close().catch(() => undefined);
    this.ws = null;
    this.encoder = null;
    this.decoder = null;
    this.stream = null;
    this.capture = null;
    this.playback = null;
    this.context = null;
  }
}
