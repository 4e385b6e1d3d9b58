/** Microphone helpers that need no browser: error wording, level math, recording formats. */
import type { MessageKey } from "./i18n";

export const MAX_RECORDING_S = 120;

/** The translation key for why the microphone could not start (a DOMException from getUserMedia). */
export function micErrorKey(error: unknown): MessageKey {
  const name = (error as { name?: string } | null)?.name ?? "";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "voice.mic_denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "voice.mic_missing";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "voice.mic_busy";
    default:
      return "voice.mic_error";
  }
}

/** What stops recording before asking for the microphone at all, or null when it can be tried. */
export function micPrecheck(env: { secure: boolean; getUserMedia: boolean; mediaRecorder: boolean }): MessageKey | null {
  if (!env.secure) return "voice.mic_insecure";
  if (!env.getUserMedia || !env.mediaRecorder) return "voice.mic_unsupported";
  return null;
}

/**
 * Loudness 0-1 of one analyser frame (AnalyserNode.getByteTimeDomainData: 128 is silence).
 * RMS, scaled so normal speech fills most of the meter.
 */
export function levelFromTimeDomain(samples: Uint8Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const sample of samples) {
    const v = (sample - 128) / 128;
    sum += v * v;
  }
  const rms = Math.sqrt(sum / samples.length);
  return Math.min(1, rms * 3);
}

const PREFERRED_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];

/** The first recording format the browser supports (the llm-api takes all of these), or "" for its default. */
export function pickRecordingType(isTypeSupported: (type: string) => boolean): string {
  return PREFERRED_TYPES.find((type) => isTypeSupported(type)) ?? "";
}

/** A file name for an upload of this MIME type. */
export function recordingFileName(mimeType: string): string {
  const base = mimeType.split(";")[0].trim().toLowerCase();
  const ext: Record<string, string> = {
    "audio/webm": "webm",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/flac": "flac",
  };
  return `recording.${ext[base] ?? "webm"}`;
}
