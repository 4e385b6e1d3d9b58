/** One error type for everything that can go wrong with a request, and what to tell the person. */
import type { MessageKey } from "./i18n";

export class ApiError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly status: number | null = null,
    public readonly requestId: string | null = null,
    public readonly retryAfterS: number | null = null,
    /** The web server answered for an llm-api it could not reach (not the llm-api itself). */
    public readonly llmApiUnreachable = false,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Set by the web server's proxy on its own 503, so the page can say "start the llm-api". */
export const UNREACHABLE_HEADER = "x-llm-api-unreachable";

interface ErrorShape {
  code?: unknown;
  message?: unknown;
  request_id?: unknown;
}

/** The contract's `{"error": {...}}` body (or a stream's error line) as an ApiError. */
export function errorFromBody(
  body: unknown,
  status: number | null,
  requestId: string | null = null,
  retryAfterS: number | null = null,
): ApiError | null {
  const err = (body as { error?: ErrorShape } | null)?.error;
  if (!err || typeof err !== "object" || typeof err.code !== "string") return null;
  const message = typeof err.message === "string" ? err.message : err.code;
  const rid = typeof err.request_id === "string" ? err.request_id : requestId;
  return new ApiError(err.code, message, status, rid, retryAfterS);
}

export function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.round((date - Date.now()) / 1000));
}

/** An HTTP error response (not 2xx) as an ApiError, whatever its body. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const requestId = res.headers.get("x-request-id");
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  const text = await res.text().catch(() => "");
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const parsed = errorFromBody(body, res.status, requestId, retryAfter);
  if (parsed && res.headers.get(UNREACHABLE_HEADER)) {
    return new ApiError(parsed.code, parsed.message, parsed.status, parsed.requestId, parsed.retryAfterS, true);
  }
  return (
    parsed ??
    new ApiError(`http_${res.status}`, text.trim().slice(0, 200) || res.statusText || `HTTP ${res.status}`,
      res.status, requestId, retryAfter)
  );
}

/** A thrown fetch/stream failure as an ApiError; `reason` says why our own controller aborted. */
export function errorFromException(err: unknown, reason: "timeout" | "cancelled" | null): ApiError {
  if (err instanceof ApiError) return err;
  if (reason === "timeout") return new ApiError("timeout", "The request took too long and was stopped.");
  if (reason === "cancelled" || (err as { name?: string })?.name === "AbortError") {
    return new ApiError("cancelled", "The request was cancelled.");
  }
  if ((err as { name?: string })?.name === "NdjsonParseError") {
    return new ApiError("bad_stream", (err as Error).message);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError("network", message || "The network request failed.");
}

/** Failures the browser itself detected: their English `message` is replaced by translated text. */
export const CLIENT_CODES = new Set(["timeout", "network", "cancelled", "bad_stream", "stream_incomplete"]);

/** What the person should do about an error: a translation key for each contract code. */
const HINTS: Record<string, MessageKey> = {
  bad_request: "hint.bad_request",
  unauthorized: "hint.unauthorized",
  not_found: "hint.not_found",
  model_not_found: "hint.model_not_found",
  payload_too_large: "hint.payload_too_large",
  unsupported_media_type: "hint.unsupported_media_type",
  unprocessable_media: "hint.unprocessable_media",
  overloaded: "hint.overloaded",
  backend_error: "hint.backend_error",
  backend_unavailable: "hint.backend_unavailable",
  backend_timeout: "hint.backend_timeout",
  internal: "hint.internal",
  timeout: "hint.timeout",
  network: "hint.network",
  cancelled: "hint.cancelled",
  bad_stream: "hint.bad_stream",
  stream_incomplete: "hint.stream_incomplete",
};

export function hintKey(err: ApiError): MessageKey {
  if (err.llmApiUnreachable) return "hint.llm_api_unreachable";
  if (HINTS[err.code]) return HINTS[err.code];
  if (err.status != null && err.status >= 500) return "hint.backend_error";
  return "hint.unknown";
}
