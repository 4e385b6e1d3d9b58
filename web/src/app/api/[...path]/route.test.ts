/**
 * The proxy route handler against a real HTTP server standing in for the llm-api: streaming both ways,
 * headers, request-time LLM_API_URL, client abort, and the 503 when nothing listens.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { GET, POST } from "./route";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let base = "";
const seen: Seen[] = [];
let aborted = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "application/x-ndjson", "x-request-id": req.headers["x-request-id"] ?? "" });
        let n = 0;
        const timer = setInterval(() => {
          n += 1;
          res.write(`{"type":"token","text":"${n}"}\n`);
          if (n === 3) {
            clearInterval(timer);
            res.end('{"type":"done"}\n');
          }
        }, 30);
        return;
      }
      if (req.url === "/endless") {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        const timer = setInterval(() => res.write('{"type":"token","text":"x"}\n'), 20);
        res.on("close", () => {
          clearInterval(timer);
          aborted += 1;
        });
        return;
      }
      if (req.url?.startsWith("/busy")) {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "9", "server-timing": "total;dur=1" });
        res.end(JSON.stringify({ error: { code: "overloaded", message: "Queue full.", request_id: "u" } }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "set-cookie": "a=b" });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.LLM_API_URL = base;
});

afterAll(async () => {
  delete process.env.LLM_API_URL;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const ctx = (...path: string[]) => ({ params: Promise.resolve({ path }) });

describe("proxy route", () => {
  it("forwards method, path, query, body and the chosen headers", async () => {
    const body = JSON.stringify({ hello: "世界" });
    const req = new NextRequest("http://web.local/api/sessions/abc?limit=3", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        authorization: "Bearer k",
        "x-request-id": "req-1",
        cookie: "lang=ja",
      },
      body,
    });
    const res = await POST(req, ctx("sessions", "abc"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(res.headers.has("set-cookie")).toBe(false);
    const last = seen.at(-1)!;
    expect(last.method).toBe("POST");
    expect(last.url).toBe("/sessions/abc?limit=3");
    expect(JSON.parse(last.body)).toEqual({ hello: "世界" });
    expect(last.headers.authorization).toBe("Bearer k");
    expect(last.headers["content-length"]).toBe(String(Buffer.byteLength(body)));
    expect(last.headers["transfer-encoding"]).toBeUndefined();
    expect(last.headers["x-request-id"]).toBe("req-1");
    expect(last.headers.cookie).toBeUndefined();
  });

  it("passes status and Retry-After / Server-Timing back", async () => {
    const res = await GET(new NextRequest("http://web.local/api/busy"), ctx("busy"));
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("9");
    expect(res.headers.get("server-timing")).toBe("total;dur=1");
    expect((await res.json()).error.code).toBe("overloaded");
  });

  it("streams the answer line by line as it comes", async () => {
    const res = await POST(new NextRequest("http://web.local/api/stream", { method: "POST", body: "{}" }), ctx("stream"));
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    let text = "";
    const start = Date.now();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(Date.now() - start);
      text += new TextDecoder().decode(value);
    }
    expect(text.trim().split("\n")).toHaveLength(4);
    // More than one chunk, spread over time: nothing waited for the whole body.
    expect(arrivals.length).toBeGreaterThan(1);
    expect(arrivals.at(-1)! - arrivals[0]).toBeGreaterThan(30);
  });

  it("reads LLM_API_URL at request time", async () => {
    process.env.LLM_API_URL = "http://127.0.0.1:9";
    try {
      const res = await GET(new NextRequest("http://web.local/api/models", { headers: { "x-request-id": "rid-9" } }), ctx("models"));
      expect(res.status).toBe(503);
      expect(res.headers.get("x-request-id")).toBe("rid-9");
      expect(res.headers.get("retry-after")).toBe("5");
      expect(res.headers.get("x-llm-api-unreachable")).toBe("1");
      const body = await res.json();
      expect(body.error.code).toBe("backend_unavailable");
      expect(body.error.request_id).toBe("rid-9");
      expect(body.error.message).toContain("http://127.0.0.1:9");
    } finally {
      process.env.LLM_API_URL = base;
    }
  });

  it("refuses dot segments", async () => {
    const res = await GET(new NextRequest("http://web.local/api/x"), ctx("..", "secret"));
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("bad_request");
  });

  it("aborts the upstream request when the browser goes away", async () => {
    const controller = new AbortController();
    const req = new NextRequest("http://web.local/api/endless", { method: "POST", body: "{}", signal: controller.signal });
    const before = aborted;
    const res = await POST(req, ctx("endless"));
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel().catch(() => undefined);
    for (let i = 0; i < 50 && aborted === before; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(aborted).toBe(before + 1);
  });
});
