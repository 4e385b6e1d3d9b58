// The web server's WebSocket pass-through: an HTTP upgrade for /realtime/* (the Talk page's conversation)
// is forwarded byte for byte to the llm-api at $LLM_API_URL, which applies its auth and origin rules and
// relays to the real-time voice service. Every other upgrade (e.g. Next's own) is left to Next.
//
// Plain JavaScript because it runs beside Next's standalone server.js, outside the app's build (start.mjs
// loads it); types in realtime-upgrade.d.mts, tests in src/lib/talk/realtime-upgrade.test.ts.
import crypto from "node:crypto";
import net from "node:net";
import tls from "node:tls";

const DEFAULT_LLM_API_URL = "http://llm-api:8080"; // as src/lib/proxy.ts
const CONNECT_TIMEOUT_MS = 10_000;
/** The most request-head bytes sent upstream (Node's own parser already caps what it accepts at 16 KiB). */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Browser headers that cross (the same spirit as lib/proxy.ts: cookies and the rest stay here). */
const FORWARDED = [
  "upgrade",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "origin",
  "authorization",
  "user-agent",
  "accept-language",
  "cache-control",
  "pragma",
];
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The normalised path + query of a /realtime or /realtime/* request, or null for anything else. */
export function realtimeTarget(rawUrl) {
  if (typeof rawUrl !== "string" || !rawUrl.startsWith("/")) return null;
  let url;
  try {
    url = new URL(rawUrl, "http://web.invalid");
  } catch {
    return null;
  }
  if (url.host !== "web.invalid") return null; // "//host/..." is not a path
  if (url.pathname !== "/realtime" && !url.pathname.startsWith("/realtime/")) return null;
  return url.pathname + url.search;
}

/** Where to connect and what to put in the request line, from $LLM_API_URL read now. */
export function upstreamFor(env) {
  const base = (env.LLM_API_URL || "").trim() || DEFAULT_LLM_API_URL;
  const url = new URL(base);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`unsupported scheme ${url.protocol}`);
  const secure = url.protocol === "https:";
  return {
    base,
    secure,
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(url.port) || (secure ? 443 : 80),
    host: url.host,
    prefix: url.pathname.replace(/\/+$/, ""),
  };
}

/**
 * The request head sent to the llm-api: the same method and path (under LLM_API_URL's path), Host rewritten,
 * the allowed browser headers, Authorization from LLM_API_KEY when the browser sent none, Connection: Upgrade,
 * X-Request-ID, X-Forwarded-For / -Proto. Returns null when it would exceed MAX_HEAD_BYTES.
 */
export function upgradeHead(req, path, upstream, env, requestId) {
  const lines = [`${req.method} ${upstream.prefix}${path} HTTP/1.1`, `Host: ${upstream.host}`, "Connection: Upgrade"];
  const raw = req.rawHeaders;
  let authorization = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!FORWARDED.includes(name)) continue;
    if (name === "authorization") authorization = true;
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  if (!authorization && env.LLM_API_KEY) lines.push(`Authorization: Bearer ${env.LLM_API_KEY}`);
  lines.push(`X-Request-ID: ${requestId}`);
  const remote = req.socket.remoteAddress || "";
  const prior = req.headers["x-forwarded-for"];
  lines.push(`X-Forwarded-For: ${prior ? `${prior}, ${remote}` : remote}`);
  lines.push(`X-Forwarded-Proto: ${req.socket.encrypted ? "https" : "http"}`);
  const head = `${lines.join("\r\n")}\r\n\r\n`;
  return Buffer.byteLength(head) > MAX_HEAD_BYTES ? null : head;
}

/** A contract-shaped JSON error as a raw HTTP/1.1 response, written on the browser's socket, which is then closed. */
function refuse(socket, status, reason, code, message, requestId, extra = {}) {
  const body = JSON.stringify({ error: { code, message, request_id: requestId } });
  const headers = {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
    "X-Request-ID": requestId,
    ...extra,
  };
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\r\n");
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\n${head}\r\n\r\n${body}`);
  else socket.destroy();
}

/** Forward one upgrade request; the browser's socket and the upstream one then carry each other's bytes. */
export function passThrough(req, socket, head, path, env = process.env) {
  const incomingId = req.headers["x-request-id"];
  const requestId = typeof incomingId === "string" && REQUEST_ID.test(incomingId) ? incomingId : crypto.randomUUID();
  let upstream;
  try {
    upstream = upstreamFor(env);
  } catch {
    refuse(socket, 500, "Internal Server Error", "internal", `LLM_API_URL is not a valid URL: ${env.LLM_API_URL}`, requestId);
    return;
  }
  const requestHead = upgradeHead(req, path, upstream, env, requestId);
  if (requestHead === null) {
    refuse(socket, 431, "Request Header Fields Too Large", "payload_too_large", "The request headers are too large.", requestId);
    return;
  }
  const options = { host: upstream.hostname, port: upstream.port };
  const remote = upstream.secure
    ? tls.connect({ ...options, servername: net.isIP(upstream.hostname) ? undefined : upstream.hostname })
    : net.connect(options);
  let connected = false;
  const done = () => {
    socket.destroy();
    remote.destroy();
  };
  remote.setTimeout(CONNECT_TIMEOUT_MS, () => remote.destroy(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })));
  remote.once(upstream.secure ? "secureConnect" : "connect", () => {
    connected = true;
    remote.setTimeout(0);
    remote.setNoDelay(true);
    socket.setNoDelay(true);
    socket.setTimeout(0);
    remote.write(requestHead);
    if (head && head.length) remote.write(head);
    remote.pipe(socket);
    socket.pipe(remote);
  });
  remote.on("error", (err) => {
    if (connected) return done();
    const detail = err && err.code ? err.code : err && err.message ? err.message : "";
    refuse(socket, 503, "Service Unavailable", "backend_unavailable",
      `The llm-api at ${upstream.base} cannot be reached${detail ? ` (${detail})` : ""}; check that it is running and that LLM_API_URL is right.`,
      requestId, { "Retry-After": "5", "X-LLM-API-Unreachable": "1" });
  });
  remote.on("close", () => {
    if (connected) done();
  });
  socket.on("error", done);
  socket.on("close", () => remote.destroy());
}

/**
 * Route the server's /realtime/* upgrades to passThrough before Next sees them (Next answers upgrades on
 * paths it routes itself; wrapping `emit` keeps its handler from ever touching these sockets).
 */
export function attachRealtimeUpgrade(server, env = process.env) {
  const emit = server.emit;
  server.emit = function (event, ...args) {
    if (event === "upgrade") {
      const [req, socket, head] = args;
      const path = realtimeTarget(req.url);
      if (path !== null) {
        passThrough(req, socket, head, path, env);
        return true;
      }
    }
    return emit.call(this, event, ...args);
  };
  return server;
}
