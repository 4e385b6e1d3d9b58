/**
 * The browser's way to the llm-api: /api/<path> is forwarded to $LLM_API_URL/<path>.
 *
 * LLM_API_URL is read on every request (not at build), bodies stream both ways without buffering,
 * there is no proxy timeout (model loads can take minutes; the browser sets its own), a browser
 * that goes away aborts the upstream request, and an llm-api that cannot be reached gives the
 * contract's 503 error body.
 */
import { randomUUID } from "node:crypto";
import type { NextRequest } from "next/server";
import { Agent, fetch as upstreamFetch, type RequestInit as UpstreamInit } from "undici";

import { UNREACHABLE_HEADER } from "@/lib/errors";
import {
  buildUpstreamUrl,
  downstreamResponseHeaders,
  errorBody,
  llmApiBase,
  ProxyPathError,
  requestIdFrom,
  unreachableMessage,
  upstreamRequestHeaders,
} from "@/lib/proxy";

export const dynamic = "force-dynamic";

// No header or body timeout: a first model load may take many minutes before the first byte.
const agent = new Agent({ headersTimeout: 0, bodyTimeout: 0, connectTimeout: 10_000 });

type Context = { params: Promise<{ path: string[] }> };

function jsonError(status: number, code: string, message: string, requestId: string, extra?: HeadersInit) {
  const headers = new Headers(extra);
  headers.set("x-request-id", requestId);
  return Response.json(errorBody(code, message, requestId), { status, headers });
}

async function proxy(req: NextRequest, ctx: Context): Promise<Response> {
  const requestId = requestIdFrom(req.headers.get("x-request-id"), randomUUID);
  const base = llmApiBase(process.env);
  const { path } = await ctx.params;
  let target: string;
  try {
    target = buildUpstreamUrl(base, path, req.nextUrl.search);
  } catch (err) {
    if (err instanceof ProxyPathError) return jsonError(400, "bad_request", "The request path is not valid.", requestId);
    return jsonError(500, "internal", `LLM_API_URL is not a valid URL: ${base}`, requestId);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD" && req.body !== null;
  try {
    const upstream = await upstreamFetch(target, {
      method: req.method,
      headers: upstreamRequestHeaders(req.headers, requestId, process.env.LLM_API_KEY),
      body: (hasBody ? req.body : undefined) as UpstreamInit["body"],
      duplex: hasBody ? "half" : undefined,
      signal: req.signal,
      dispatcher: agent,
      redirect: "manual",
    });
    return new Response(upstream.body as ReadableStream<Uint8Array> | null, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: downstreamResponseHeaders(upstream.headers as unknown as Headers),
    });
  } catch (err) {
    if (req.signal.aborted) return new Response(null, { status: 499 });
    return jsonError(503, "backend_unavailable", unreachableMessage(base, err), requestId, {
      "retry-after": "5",
      [UNREACHABLE_HEADER]: "1",
    });
  }
}

export const GET = proxy;
export const HEAD = proxy;
export const POST = proxy;
export const PUT = proxy;
export const PATCH = proxy;
export const DELETE = proxy;
export const OPTIONS = proxy;
