/**
 * One streamed chat answer, without React: the /ask-llm request body, the message pair shown while
 * it streams, the NDJSON events folded into the answer, and the browser-measured timings.
 */
import { toOptions, type ChatMessage, type ChatParams } from "./chat";
import { ApiError } from "./errors";
import { apiStream, type TimedRequest } from "./request";
import type { AskEvent, AskRequest } from "./types";

export type AnswerPatch = Partial<ChatMessage>;
type ClientTimings = NonNullable<ChatMessage["client"]>;

/** What the person asked and with which settings. */
export interface AskInput {
  prompt: string;
  model: string | null;
  params: ChatParams;
  sessionId: string | null;
  system: string;
}

export function askRequest({ prompt, model, params, sessionId, system }: AskInput): AskRequest {
  const body: AskRequest = { prompt, stream: true, options: toOptions(params) };
  if (model) body.model = model;
  if (sessionId) body.session_id = sessionId;
  if (system.trim()) body.system = system.trim();
  return body;
}

let keyCounter = 0;
/** A React key for a message made in this page (stored ones use their id). */
export const newMessageKey = () => `m${Date.now().toString(36)}-${(keyCounter += 1)}`;

/** The question, and its empty answer that the stream fills in. */
export function newExchange(prompt: string, model: string | null): [ChatMessage, ChatMessage] {
  return [
    { key: newMessageKey(), role: "user", content: prompt, model, status: "done", timings: null, client: null, error: null },
    {
      key: newMessageKey(), role: "assistant", content: "", model, status: "streaming", timings: null,
      client: { firstTokenMs: null, totalMs: null, tokenCount: 0 }, error: null,
    },
  ];
}

/** What the stream has said so far. */
export interface AnswerProgress {
  text: string;
  firstTokenMs: number | null;
  tokenCount: number;
  /** The session the llm-api stores this exchange in (from the start event). */
  session: string | null;
  finished: boolean;
}

export const EMPTY_PROGRESS: AnswerProgress = { text: "", firstTokenMs: null, tokenCount: 0, session: null, finished: false };

const timings = (p: AnswerProgress, totalMs: number | null): ClientTimings =>
  ({ firstTokenMs: p.firstTokenMs, totalMs, tokenCount: p.tokenCount });

/** Fold one event in, `elapsedMs` after the request was sent; the patch is what the answer shows now. */
export function foldEvent(p: AnswerProgress, event: AskEvent, elapsedMs: number): { progress: AnswerProgress; patch: AnswerPatch | null } {
  if (event.type === "start") {
    return { progress: { ...p, session: event.session_id }, patch: { model: event.model } };
  }
  if (event.type === "token") {
    const next = { ...p, firstTokenMs: p.firstTokenMs ?? elapsedMs, tokenCount: p.tokenCount + 1, text: p.text + event.text };
    return { progress: next, patch: { content: next.text, client: timings(next, null) } };
  }
  if (event.type === "done") {
    const next = { ...p, finished: true };
    const patch: AnswerPatch = { content: event.answer ?? p.text, status: "done", timings: event.timings, client: timings(next, elapsedMs) };
    return { progress: next, patch };
  }
  return { progress: p, patch: null };
}

/** The answer after a failure: Stop leaves it "stopped" with what arrived, anything else is an error. */
export function failurePatch(p: AnswerProgress, error: ApiError, elapsedMs: number): AnswerPatch {
  const client = timings(p, elapsedMs);
  return error.code === "cancelled" ? { status: "stopped", client } : { status: "error", error, client };
}

/**
 * Stream one answer, reporting every change through `onPatch`. Never throws: resolves with the
 * session the exchange was stored in when the answer completed, or null when it did not.
 */
export async function streamAnswer(
  body: AskRequest,
  request: TimedRequest,
  onPatch: (patch: AnswerPatch) => void,
  now: () => number = () => performance.now(),
): Promise<{ session: string | null } | null> {
  const started = now();
  let progress = EMPTY_PROGRESS;
  try {
    for await (const event of apiStream<AskEvent>("/ask-llm", { json: body, request })) {
      const folded = foldEvent(progress, event, now() - started);
      progress = folded.progress;
      if (folded.patch) onPatch(folded.patch);
    }
    if (!progress.finished) throw new ApiError("stream_incomplete", "The answer ended before it was complete.");
    return { session: progress.session };
  } catch (err) {
    onPatch(failurePatch(progress, err as ApiError, now() - started));
    return null;
  }
}
