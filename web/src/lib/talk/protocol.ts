/**
 * The real-time voice protocol (Moshi's server protocol) as the Talk page speaks it: binary WebSocket
 * messages whose first byte is the kind, the close codes, the status answer of GET /api/realtime/status,
 * and what each way a conversation can end means for the person.
 */

export const KIND_HANDSHAKE = 0x00;
export const KIND_AUDIO = 0x01;
export const KIND_TEXT = 0x02;
export const KIND_ERROR = 0x05;

/** Same origin as the page, outside /api/ (the web server passes this path's upgrade to the llm-api). */
export const REALTIME_PATH = "/realtime/api/chat";
export const STATUS_PATH = "/realtime/status";

export type ServerMessage =
  | { type: "handshake" }
  | { type: "audio"; data: Uint8Array }
  | { type: "text"; text: string }
  | { type: "error"; message: string }
  | { type: "unknown"; kind: number };

const utf8 = new TextDecoder("utf-8");

/** One server message; null for an empty one. Extra handshake bytes are ignored. */
export function decodeServerMessage(message: ArrayBuffer | Uint8Array): ServerMessage | null {
  const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
  if (bytes.length === 0) return null;
  const payload = bytes.subarray(1);
  switch (bytes[0]) {
    case KIND_HANDSHAKE:
      return { type: "handshake" };
    case KIND_AUDIO:
      return { type: "audio", data: payload };
    case KIND_TEXT:
      return { type: "text", text: utf8.decode(payload) };
    case KIND_ERROR:
      return { type: "error", message: utf8.decode(payload) };
    default:
      return { type: "unknown", kind: bytes[0] };
  }
}

/** A client audio message: 0x01 + Ogg Opus bytes. */
export function encodeAudio(ogg: Uint8Array): Uint8Array {
  const out = new Uint8Array(ogg.length + 1);
  out[0] = KIND_AUDIO;
  out.set(ogg, 1);
  return out;
}

/** ws://host/realtime/api/chat on an http page, wss:// on https. */
export function realtimeUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${REALTIME_PATH}`;
}

export type ServiceState = "ready" | "loading" | "not_running" | "unreachable" | "unknown";

export interface ServiceStatus {
  state: ServiceState;
  model: string | null;
  active: number | null;
  max: number | null;
  progress: string | null;
  /** The server's own words (the 503's message, e.g. how to start the service). */
  message: string | null;
  sampleRate: number | null;
  frameMs: number | null;
}

const str = (v: unknown) => (typeof v === "string" && v ? v : null);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * GET /api/realtime/status as a state: 200 ready, 503 loading (with progress), the contract's 503
 * backend_unavailable (service not configured or not running; with `llmApiUnreachable` when it was the web
 * server that could not reach the llm-api at all).
 */
export function parseStatus(httpStatus: number, body: unknown, llmApiUnreachable = false): ServiceStatus {
  const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const conversations = (b.conversations && typeof b.conversations === "object" ? b.conversations : {}) as Record<string, unknown>;
  const status: ServiceStatus = {
    state: "unknown",
    model: str(b.model),
    active: num(conversations.active),
    max: num(conversations.max),
    progress: str(b.progress),
    message: null,
    sampleRate: num(b.sample_rate),
    frameMs: num(b.frame_ms),
  };
  const error = b.error && typeof b.error === "object" ? (b.error as Record<string, unknown>) : null;
  if (error) {
    status.message = str(error.message);
    if (llmApiUnreachable) status.state = "unreachable";
    else if (error.code === "backend_unavailable" || httpStatus === 503) status.state = "not_running";
    return status;
  }
  if (httpStatus === 200 && b.status === "ready") status.state = "ready";
  else if (b.status === "loading") status.state = "loading";
  else if (httpStatus === 404 || httpStatus === 503) status.state = "not_running";
  return status;
}

export function isFull(status: ServiceStatus | null): boolean {
  return !!status && status.active != null && status.max != null && status.active >= status.max;
}

/** Why a conversation did not start or ended, as the page explains it. */
export type Problem =
  | "not_running"
  | "unreachable"
  | "loading"
  | "busy"
  | "dropped"
  | "idle"
  | "time_limit"
  | "malformed"
  | "going_away"
  | "server_error"
  | "refused"
  | "mic_denied"
  | "mic_missing"
  | "mic_busy"
  | "mic_error"
  | "mic_insecure"
  | "no_webcodecs"
  | "no_audio_support";

/** The kind of a 0x05 error message (the text is the server's, in English). */
export function problemFromServerError(message: string): Problem {
  const m = message.toLowerCase();
  if (m.startsWith("busy") || m.includes("conversations in progress")) return "busy";
  if (m.includes("loading")) return "loading";
  if (m.startsWith("idle")) return "idle";
  if (m.includes("time limit")) return "time_limit";
  return "server_error";
}

export interface CloseFacts {
  code: number;
  /** The server's handshake had arrived. */
  handshaken: boolean;
  /** The person pressed Stop or left the page. */
  stopRequested: boolean;
  /** A 0x05 error message that came before the close, already classified. */
  serverProblem: Problem | null;
}

/**
 * What a close means: null when nothing needs saying (the person stopped, or the server ended normally after
 * the handshake). `checkStatus` says whether GET /realtime/status should be asked to explain it further.
 */
export function closeOutcome(facts: CloseFacts): { problem: Problem | null; checkStatus: boolean } {
  if (facts.serverProblem) {
    return { problem: facts.serverProblem, checkStatus: facts.serverProblem === "loading" || facts.serverProblem === "server_error" };
  }
  if (facts.stopRequested) return { problem: null, checkStatus: false };
  switch (facts.code) {
    case 1013:
      return { problem: "busy", checkStatus: true }; // busy or loading: the status says which
    case 1003:
    case 1007:
    case 1009:
      return { problem: "malformed", checkStatus: false };
    case 1001:
      return { problem: "going_away", checkStatus: true };
    case 1000:
      if (facts.handshaken) return { problem: null, checkStatus: false };
      return { problem: "refused", checkStatus: true };
    default:
      return { problem: facts.handshaken ? "dropped" : "refused", checkStatus: true };
  }
}

/**
 * The final word once the status is known: before the handshake the status explains a refusal (not running,
 * loading, busy); after it, what ended the conversation stays the message (the status line shows the rest).
 */
export function explainWithStatus(problem: Problem, handshaken: boolean, status: ServiceStatus | null): Problem {
  if (!status || handshaken) return problem;
  if (status.state === "unreachable") return "unreachable";
  if (status.state === "not_running") return "not_running";
  if (status.state === "loading") return "loading";
  if (problem === "refused" && isFull(status)) return "busy";
  return problem;
}

/** The translation key stem of a microphone failure (a DOMException from getUserMedia). */
export function micProblem(error: unknown): Problem {
  const name = (error as { name?: string } | null)?.name ?? "";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "mic_denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "mic_missing";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "mic_busy";
    default:
      return "mic_error";
  }
}
