/**
 * Pure parts of the web server's proxy to the llm-api (app/api/[...path]/route.ts): where a
 * request goes, which headers cross, and the contract-shaped error when the llm-api is down.
 */

export const DEFAULT_LLM_API_URL = "http://llm-api:8080";

/**
 * Request headers passed to the llm-api (everything else, e.g. cookies, stays here). Content-Length goes along
 * when the browser sent one, so the llm-api can refuse an oversized upload (413) before reading it.
 */
export const FORWARDED_REQUEST_HEADERS = [
  "content-type",
  "content-length",
  "authorization",
  "x-request-id",
  "accept",
  "accept-language",
];

/** Response headers passed back to the browser. */
export const FORWARDED_RESPONSE_HEADERS = [
  "content-type",
  "content-disposition",
  "cache-control",
  "retry-after",
  "server-timing",
  "x-request-id",
  "x-accel-buffering",
  "location",
];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export class ProxyPathError extends Error {}

/** The llm-api base URL from the environment, read when called (i.e. at request time). */
export function llmApiBase(env: Record<string, string | undefined>): string {
  const value = env.LLM_API_URL?.trim();
  return value ? value : DEFAULT_LLM_API_URL;
}

/**
 * `base` + the path segments under /api/ + the query string. Segments are re-encoded one by one
 * and "." / ".." are refused, so a request cannot climb out of a base path such as /v1.
 */
export function buildUpstreamUrl(base: string, segments: readonly string[], search = ""): string {
  const url = new URL(base);
  for (const segment of segments) {
    if (segment === "." || segment === ".." || segment === "") {
      throw new ProxyPathError(`invalid path segment ${JSON.stringify(segment)}`);
    }
  }
  const prefix = url.pathname.replace(/\/+$/, "");
  url.pathname = `${prefix}/${segments.map((s) => encodeURIComponent(s)).join("/")}`;
  url.search = search.startsWith("?") || search === "" ? search : `?${search}`;
  url.hash = "";
  return url.toString();
}

/** The headers sent upstream; `apiKey` (LLM_API_KEY) is added when the browser sent no Authorization. */
export function upstreamRequestHeaders(incoming: Headers, requestId: string, apiKey?: string): Headers {
  const out = new Headers();
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming.get(name);
    if (value != null) out.set(name, value);
  }
  out.set("x-request-id", requestId);
  if (apiKey && !out.has("authorization")) out.set("authorization", `Bearer ${apiKey}`);
  return out;
}

export function downstreamResponseHeaders(upstream: Headers): Headers {
  const out = new Headers();
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = upstream.get(name);
    if (value != null) out.set(name, value);
  }
  // Never let anything between here and the browser hold back a stream.
  if (out.get("content-type")?.includes("ndjson")) {
    out.set("cache-control", "no-cache");
    out.set("x-accel-buffering", "no");
  }
  return out;
}

/** The caller's X-Request-ID when valid (as the contract says), else a new one. */
export function requestIdFrom(incoming: string | null, generate: () => string): string {
  return incoming && REQUEST_ID.test(incoming) ? incoming : generate();
}

export function errorBody(code: string, message: string, requestId: string) {
  return { error: { code, message, request_id: requestId } };
}

/** Why the upstream fetch failed, in one sentence for the 503 body. */
export function unreachableMessage(base: string, cause: unknown): string {
  const detail = describeCause(cause);
  return `The llm-api at ${base} cannot be reached${detail ? ` (${detail})` : ""}; check that it is running and that LLM_API_URL is right.`;
}

function describeCause(cause: unknown): string {
  let current: unknown = cause;
  for (let depth = 0; current && depth < 4; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return cause instanceof Error ? cause.message : "";
}
