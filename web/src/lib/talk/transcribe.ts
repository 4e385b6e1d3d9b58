/**
 * The person's turns through the stack's speech-to-text route, `POST /api/transcribe` (the llm-api's
 * `/transcribe`, answered by the model-worker's Omni model): a 16 kHz WAV and the UI language in, the words
 * out. Which failures mean "the route cannot transcribe in this conversation" (then the page stops sending
 * and says why once) and which belong to one turn.
 */
import { ApiError } from "@/lib/errors";
import type { MessageKey } from "@/lib/i18n";
import { TimedRequest } from "@/lib/request";
import { timedUpload, toFormData } from "@/lib/upload";

import { turnWav } from "./wav";

export const TRANSCRIBE_PATH = "/transcribe";
/** A turn is at most 30 s of audio: a transcription that takes longer than this is not coming. */
export const TRANSCRIBE_TIMEOUT_MS = 120_000;
/** Turns shorter than this (coughs, a word cut off) are not sent. */
export const MIN_TURN_MS = 400;
/** This many failed turns in a row (other than the unavailable cases) also end transcription. */
export const MAX_FAILURES_IN_A_ROW = 3;

export interface TranscribeAnswer {
  transcript: string;
  model?: string;
  duration_s?: number;
  timings?: Record<string, number>;
}

/** Why the person's words cannot be transcribed in this conversation. */
export type Unavailable = "model_not_found" | "backend_unavailable" | "no_route" | "unreachable" | "failing";

/** Send one piece of a turn; the words (trimmed, possibly empty), or the ApiError thrown. */
export async function transcribeTurn(
  samples: Float32Array,
  sampleRate: number,
  language: string | null,
  signal: AbortSignal,
  timeoutMs = TRANSCRIBE_TIMEOUT_MS,
): Promise<string> {
  const wav = turnWav(samples, sampleRate);
  const form = toFormData({
    audio: { blob: new Blob([wav], { type: "audio/wav" }), name: "turn.wav" },
    language: language === "ja" || language === "en" ? language : null,
  });
  const request = new TimedRequest(timeoutMs);
  const cancel = () => request.cancel();
  signal.addEventListener("abort", cancel);
  try {
    const { body } = await timedUpload<TranscribeAnswer>(TRANSCRIBE_PATH, { form }, request);
    return typeof body?.transcript === "string" ? body.transcript.trim() : "";
  } finally {
    signal.removeEventListener("abort", cancel);
    request.finish();
  }
}

/** The failures after which nothing more is sent in this conversation; null for a failure of one turn. */
export function unavailableReason(err: unknown): Unavailable | null {
  if (!(err instanceof ApiError)) return "unreachable";
  if (err.llmApiUnreachable || err.code === "network") return "unreachable";
  if (err.code === "model_not_found") return "model_not_found";
  if (err.code === "backend_unavailable" || err.status === 503) return "backend_unavailable";
  // A 404 of another kind: this llm-api has no /transcribe route (an older one).
  if (err.status === 404 || err.status === 405 || err.code === "not_found") return "no_route";
  return null;
}

/** The one line the transcript shows when the person's words are not transcribed. */
export function unavailableKey(reason: Unavailable): MessageKey {
  return `talk.words.off.${reason}`;
}

/** A turn's own failure, as a short note in that turn. */
export function turnFailureKey(err: unknown): MessageKey {
  if (err instanceof ApiError) {
    if (err.code === "timeout" || err.code === "backend_timeout" || err.status === 504) return "talk.words.failed_timeout";
    if (err.code === "payload_too_large" || err.code === "unsupported_media_type" || err.code === "unprocessable_media"
      || err.status === 413 || err.status === 415 || err.status === 422 || err.status === 400) {
      return "talk.words.failed_audio";
    }
  }
  return "talk.words.failed";
}
