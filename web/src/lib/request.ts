/**
 * Browser-side requests to the llm-api through the web server's proxy (/api/...): every request
 * has a timeout and can be cancelled, and every failure becomes an ApiError.
 */
import { ApiError, errorFromException, errorFromResponse } from "./errors";
import { readNdjson } from "./ndjson";

export const API_BASE = "/api";

/**
 * An AbortController with an inactivity timeout: `touch()` (called on each received chunk) re-arms
 * it, so a long answer that keeps streaming is never cut while a stalled one is.
 */
export class TimedRequest {
  readonly controller = new AbortController();
  reason: "timeout" | "cancelled" | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly timeoutMs: number) {
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    if (this.reason) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.abort("timeout"), this.timeoutMs);
  }

  cancel(): void {
    this.abort("cancelled");
  }

  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private abort(reason: "timeout" | "cancelled"): void {
    if (this.reason || this.signal.aborted) return;
    this.reason = reason;
    this.finish();
    this.controller.abort();
  }
}

export interface ApiCall {
  method?: string;
  json?: unknown;
  form?: FormData;
  request: TimedRequest;
}

/** fetch `/api${path}`; a non-2xx answer throws its ApiError. The caller finishes the request. */
export async function apiFetch(path: string, call: ApiCall): Promise<Response> {
  const headers: Record<string, string> = { "X-Request-ID": newRequestId() };
  let body: BodyInit | undefined;
  if (call.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(call.json);
  } else if (call.form) {
    body = call.form;
  }
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, {
      method: call.method ?? (body ? "POST" : "GET"),
      headers,
      body,
      signal: call.request.signal,
      cache: "no-store",
    });
  } catch (err) {
    throw errorFromException(err, call.request.reason);
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res;
}

/** A whole JSON request: send, read, finish the timer. */
export async function apiJson<T>(path: string, call: Omit<ApiCall, "request"> & { timeoutMs: number; request?: TimedRequest }): Promise<T> {
  const request = call.request ?? new TimedRequest(call.timeoutMs);
  try {
    const res = await apiFetch(path, { ...call, request });
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  } catch (err) {
    throw errorFromException(err, request.reason);
  } finally {
    request.finish();
  }
}

/** A streaming NDJSON request: yields each event; `{"type": "error"}` lines are thrown as ApiError. */
export async function* apiStream<T extends { type: string }>(path: string, call: ApiCall): AsyncGenerator<T> {
  const { request } = call;
  try {
    const res = await apiFetch(path, call);
    if (!res.body) throw new ApiError("bad_stream", "The answer had no body.");
    for await (const event of readNdjson(res.body, () => request.touch())) {
      const typed = event as T & { error?: { code: string; message: string; request_id?: string } };
      if (typed.type === "error") {
        const e = typed.error;
        throw new ApiError(e?.code ?? "backend_error", e?.message ?? "The stream failed.", 200, e?.request_id ?? null);
      }
      yield typed;
    }
  } catch (err) {
    throw errorFromException(err, request.reason);
  } finally {
    request.finish();
  }
}

export function newRequestId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return `web-${c.randomUUID()}`;
  return `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
