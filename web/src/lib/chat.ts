/** Chat state helpers that do not need React. */
import type { ApiError } from "./errors";
import { tokensPerSecond } from "./format";
import type { ChatOptions, StoredMessage, Timings } from "./types";

export type MessageStatus = "done" | "streaming" | "stopped" | "error";

export interface ChatMessage {
  key: string;
  role: "user" | "assistant";
  content: string;
  model: string | null;
  status: MessageStatus;
  timings: Timings | null;
  /** Measured in the browser for answers streamed in this page. */
  client: { firstTokenMs: number | null; totalMs: number | null; tokenCount: number } | null;
  error: ApiError | null;
}

export function fromStored(message: StoredMessage): ChatMessage {
  return {
    key: `stored-${message.id}`,
    role: message.role,
    content: message.content,
    model: message.model,
    status: "done",
    timings: message.timings,
    client: null,
    error: null,
  };
}

export interface AnswerMetrics {
  firstTokenMs: number | null;
  totalMs: number | null;
  tokensPerS: number | null;
  tokens: number | null;
}

/**
 * What to show under an answer: what the person waited (browser-measured) when known, else the
 * server's timings; the speed is the server's when it reports one, else computed from the counts.
 */
export function answerMetrics(message: Pick<ChatMessage, "timings" | "client">): AnswerMetrics {
  const t = message.timings ?? {};
  const c = message.client;
  const firstTokenMs = c?.firstTokenMs ?? t.first_token_ms ?? null;
  const totalMs = c?.totalMs ?? t.total_ms ?? null;
  const tokens = t.completion_tokens ?? (c && c.tokenCount > 0 ? c.tokenCount : null);
  const tokensPerS = t.tokens_per_s ?? tokensPerSecond(tokens, totalMs, firstTokenMs);
  return { firstTokenMs, totalMs, tokensPerS, tokens };
}

export interface ChatParams {
  temperature: number;
  top_p: number;
  max_tokens: number;
}

export const DEFAULT_PARAMS: ChatParams = { temperature: 0.7, top_p: 0.9, max_tokens: 1024 };

export const PARAM_LIMITS = {
  temperature: { min: 0, max: 2, step: 0.05 },
  top_p: { min: 0, max: 1, step: 0.01 },
  max_tokens: { min: 1, max: 8192, step: 1 },
} as const;

/** Saved parameters (localStorage JSON) checked against the contract's ranges. */
export function parseParams(raw: string | null): ChatParams {
  if (!raw) return DEFAULT_PARAMS;
  try {
    const value = JSON.parse(raw) as Partial<ChatParams>;
    const pick = (key: keyof ChatParams) => {
      const v = value[key];
      const { min, max } = PARAM_LIMITS[key];
      return typeof v === "number" && Number.isFinite(v) && v >= min && v <= max ? v : DEFAULT_PARAMS[key];
    };
    return { temperature: pick("temperature"), top_p: pick("top_p"), max_tokens: Math.round(pick("max_tokens")) };
  } catch {
    return DEFAULT_PARAMS;
  }
}

export function toOptions(params: ChatParams): ChatOptions {
  return { temperature: params.temperature, top_p: params.top_p, max_tokens: params.max_tokens };
}

/** Session ids the contract accepts; anything else in the URL is ignored. */
export function validSessionId(value: string | null | undefined): string | null {
  return value && /^[A-Za-z0-9_-]{1,64}$/.test(value) ? value : null;
}
