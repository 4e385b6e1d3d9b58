// The web server's WebSocket pass-through (web/server/realtime-upgrade.mjs) against real local sockets:
// a tiny upstream that answers the upgrade and echoes bytes, and a front server with the pass-through.
import { createHash } from "node:crypto";
import http from "node:http";
import net, { type AddressInfo } from "node:net";

import { afterEach, describe, expect, it } from "vitest";

import { attachRealtimeUpgrade, realtimeTarget, upstreamFor } from "../../../server/realtime-upgrade.mjs";

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => {
    (s as http.Server).closeAllConnections?.();
    s.close(resolve);
  })));
});

function listen<S extends net.Server>(server: S): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** An upstream that accepts WebSocket upgrades and echoes every byte after the handshake. */
async function echoUpstream() {
  const heads: http.IncomingMessage[] = [];
  const closed: Promise<void>[] = [];
  const server = http.createServer((_req, res) => res.end("plain"));
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    heads.push(req);
    closed.push(new Promise((resolve) => socket.on("close", () => resolve())));
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  const port = await listen(server);
  return { port, heads, closed };
}

/** The front server: the pass-through plus a stand-in for Next's own upgrade handler. */
async function front(env: Record<string, string | undefined>) {
  const others: string[] = [];
  const server = http.createServer((_req, res) => res.end("next"));
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket) => {
    others.push(req.url ?? "");
    socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  attachRealtimeUpgrade(server, env);
  const port = await listen(server);
  return { port, others };
}

/** A raw client: sends an upgrade request, resolves with the response head and the socket. */
function upgrade(port: number, path: string, headers: Record<string, string> = {}, early = "") {
  return new Promise<{ head: string; rest: Buffer; socket: net.Socket }>((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = Buffer.alloc(0);
    const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Upgrade: websocket", "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.write(`${lines.join("\r\n")}\r\n\r\n${early}`);
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      resolve({ head: data.subarray(0, end).toString(), rest: data.subarray(end + 4), socket });
    };
    socket.on("data", onData);
    socket.on("error", reject);
  });
}

function readAll(socket: net.Socket, initial: Buffer<ArrayBufferLike>): Promise<Buffer> {
  return new Promise((resolve) => {
    let data: Buffer<ArrayBufferLike> = initial;
    socket.on("data", (c: Buffer) => (data = Buffer.concat([data, c])));
    socket.on("close", () => resolve(data));
  });
}

function readExactly(socket: net.Socket, n: number, initial: Buffer<ArrayBufferLike>): Promise<Buffer> {
  return new Promise((resolve) => {
    let data: Buffer<ArrayBufferLike> = initial;
    const check = () => {
      if (data.length >= n) {
        socket.off("data", onData);
        resolve(data.subarray(0, n));
      }
    };
    const onData = (c: Buffer) => {
      data = Buffer.concat([data, c]);
      check();
    };
    socket.on("data", onData);
    check();
  });
}

describe("realtimeTarget", () => {
  it("takes /realtime and /realtime/* only, normalised", () => {
    expect(realtimeTarget("/realtime/api/chat?x=1")).toBe("/realtime/api/chat?x=1");
    expect(realtimeTarget("/realtime")).toBe("/realtime");
    expect(realtimeTarget("/realtimeX")).toBeNull();
    expect(realtimeTarget("/api/realtime/chat")).toBeNull();
    expect(realtimeTarget("/realtime/../_next/webpack-hmr")).toBeNull();
    expect(realtimeTarget("//evil.example/realtime/x")).toBeNull();
    expect(realtimeTarget("http://evil.example/realtime/x")).toBeNull();
  });

  it("reads LLM_API_URL with the proxy's default", () => {
    expect(upstreamFor({})).toMatchObject({ host: "llm-api:8080", port: 8080, secure: false, prefix: "" });
    expect(upstreamFor({ LLM_API_URL: "https://api.example/base/" })).toMatchObject({ port: 443, secure: true, prefix: "/base" });
    expect(() => upstreamFor({ LLM_API_URL: "ftp://x" })).toThrow();
  });
});

describe("the /realtime/* upgrade pass-through", () => {
  it("forwards the upgrade with rewritten headers and pipes bytes both ways", async () => {
    const up = await echoUpstream();
    const web = await front({ LLM_API_URL: `http://127.0.0.1:${up.port}`, LLM_API_KEY: "k123" });
    const { head, rest, socket } = await upgrade(web.port, "/realtime/api/chat", {
      Origin: "http://localhost:3000", Cookie: "secret=1", "X-Forwarded-For": "10.0.0.9",
    }, "early");
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head).toContain("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const got = up.heads[0];
    expect(got.url).toBe("/realtime/api/chat");
    expect(got.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(got.headers.origin).toBe("http://localhost:3000");
    expect(got.headers.authorization).toBe("Bearer k123");
    expect(got.headers.cookie).toBeUndefined();
    expect(got.headers["x-forwarded-for"]).toBe("10.0.0.9, 127.0.0.1");
    expect(got.headers["x-forwarded-proto"]).toBe("http");
    expect(got.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(got.headers.upgrade).toBe("websocket");
    expect(web.others).toEqual([]);
    // Bytes sent with the request head arrive first, then the rest, in both directions.
    const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i & 0xff));
    socket.write(payload);
    const echoed = await readExactly(socket, 5 + payload.length, rest);
    expect(echoed.subarray(0, 5).toString()).toBe("early");
    expect(echoed.subarray(5).equals(payload)).toBe(true);
    socket.destroy();
    await up.closed[0]; // the upstream socket goes when the browser's does
  });

  it("keeps the browser's own Authorization and adds LLM_API_URL's path", async () => {
    const up = await echoUpstream();
    const web = await front({ LLM_API_URL: `http://127.0.0.1:${up.port}/base`, LLM_API_KEY: "k123" });
    const { socket } = await upgrade(web.port, "/realtime/api/chat", { Authorization: "Bearer mine", "X-Request-ID": "req-1" });
    expect(up.heads[0].url).toBe("/base/realtime/api/chat");
    expect(up.heads[0].headers.authorization).toBe("Bearer mine");
    expect(up.heads[0].headers["x-request-id"]).toBe("req-1");
    socket.destroy();
  });

  it("closes the browser's socket when the upstream ends", async () => {
    const server = http.createServer();
    server.on("upgrade", (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nbye");
    });
    const port = await listen(server);
    const web = await front({ LLM_API_URL: `http://127.0.0.1:${port}` });
    const { head, rest, socket } = await upgrade(web.port, "/realtime/api/chat");
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect((await readAll(socket, rest)).toString()).toBe("bye");
  });

  it("answers 503 in the contract's shape when the llm-api cannot be reached", async () => {
    const dead = net.createServer();
    const port = await listen(dead);
    await new Promise((resolve) => dead.close(resolve));
    servers.pop();
    const web = await front({ LLM_API_URL: `http://127.0.0.1:${port}` });
    const { head, rest, socket } = await upgrade(web.port, "/realtime/api/chat", { "X-Request-ID": "abc" });
    expect(head).toMatch(/^HTTP\/1\.1 503 /);
    expect(head).toContain("X-LLM-API-Unreachable: 1");
    const body = JSON.parse((await readAll(socket, rest)).toString());
    expect(body.error).toMatchObject({ code: "backend_unavailable", request_id: "abc" });
    expect(body.error.message).toContain("ECONNREFUSED");
  });

  it("leaves other upgrade paths to Next", async () => {
    const web = await front({ LLM_API_URL: "http://127.0.0.1:1" });
    const { head, socket } = await upgrade(web.port, "/_next/webpack-hmr");
    expect(head).toMatch(/^HTTP\/1\.1 404 /);
    expect(web.others).toEqual(["/_next/webpack-hmr"]);
    socket.destroy();
  });

  it("refuses a request head too large to forward, in the contract's shape", async () => {
    const up = await echoUpstream();
    // Node's parser caps what the browser may send; what is added here (the key) is capped on the way out.
    const web = await front({ LLM_API_URL: `http://127.0.0.1:${up.port}`, LLM_API_KEY: "k".repeat(12_000) });
    const { head, rest, socket } = await upgrade(web.port, "/realtime/api/chat", { "User-Agent": "x".repeat(6_000) });
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse((await readAll(socket, rest)).toString()).error.code).toBe("payload_too_large");
    expect(up.heads).toHaveLength(0);
  });
});
