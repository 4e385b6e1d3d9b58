/** The llm-api contract (docs/api.md) as TypeScript types: what the browser sends and reads. */

export interface Timings {
  total_ms?: number | null;
  load_ms?: number | null;
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  tokens_per_s?: number | null;
  first_token_ms?: number | null;
  decode_ms?: number | null;
  inference_ms?: number | null;
}

export type ModelState = "ready" | "loading" | "not_pulled" | "failed";

export interface ModelInfo {
  name: string;
  backend: "ollama" | "worker" | "openai";
  /** The OpenAI-compatible backend's configured name (the `<name>/` of the model's name). */
  provider?: string;
  size_bytes: number | null;
  capabilities: string[];
  state: ModelState;
  /** Why the model is `failed`, when known. */
  reason?: string | null;
}

/** An OpenAI-compatible backend from `OPENAI_BACKENDS`, listed even when it has no model to show. */
export interface BackendInfo {
  name: string;
  kind: "openai";
  state: "ready" | "failed";
  reason: string | null;
}

export interface ModelList {
  models: ModelInfo[];
  default: string;
  backends?: BackendInfo[];
}

export interface ChatOptions {
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  seed?: number;
}

export interface AskRequest {
  prompt: string;
  model?: string;
  session_id?: string;
  system?: string;
  options?: ChatOptions;
  stream: true;
}

export type AskEvent =
  | { type: "start"; session_id: string; model: string; message_id: string | number }
  | { type: "token"; text: string }
  | { type: "done"; answer: string; timings: Timings }
  | { type: "error"; error: { code: string; message: string; request_id?: string } };

export type PullEvent =
  | { type: "progress"; status: string; completed?: number | null; total?: number | null }
  | { type: "done" }
  | { type: "error"; error: { code: string; message: string; request_id?: string } };

export interface SessionSummary {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
  message_count: number;
}

export interface StoredMessage {
  id: string | number;
  role: "user" | "assistant";
  content: string;
  model: string | null;
  created_at: string;
  timings: Timings | null;
}

export interface SessionDetail {
  id: string;
  title: string;
  created_at: string;
  messages: StoredMessage[];
}

export interface VoiceFeedback {
  feedback: string;
  transcript: string | null;
  audio: { format: string; sample_rate: number; base64: string; truncated?: boolean } | null;
  model: string;
  duration_s: number | null;
  timings: Timings;
}

export interface DetectedBox {
  bbox_normalized: number[];
  bbox_pixel: number[];
}

export interface Detection {
  bboxes: DetectedBox[];
  count: number;
  raw_output: string;
  image_size: { width: number; height: number };
  model: string;
  timings: Timings;
}

export interface Readiness {
  status: "ready" | "degraded" | "unavailable";
  checks: Record<string, unknown>;
}
