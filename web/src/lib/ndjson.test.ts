import { describe, expect, it } from "vitest";

import { NdjsonDecoder, NdjsonParseError, readNdjson } from "./ndjson";

const enc = new TextEncoder();

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

async function collect(chunks: Uint8Array[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of readNdjson(streamOf(chunks))) out.push(item);
  return out;
}

describe("NdjsonDecoder", () => {
  it("parses whole lines in one chunk", () => {
    const d = new NdjsonDecoder();
    expect(d.push(enc.encode('{"a":1}\n{"b":2}\n'))).toEqual([{ a: 1 }, { b: 2 }]);
    expect(d.end()).toEqual([]);
  });

  it("keeps a partial line until its newline arrives", () => {
    const d = new NdjsonDecoder();
    expect(d.push(enc.encode('{"type":"tok'))).toEqual([]);
    expect(d.push(enc.encode('en","text":"hi"}'))).toEqual([]);
    expect(d.push(enc.encode('\n{"type"'))).toEqual([{ type: "token", text: "hi" }]);
    expect(d.push(enc.encode(':"done"}\n'))).toEqual([{ type: "done" }]);
  });

  it("decodes a multibyte UTF-8 character split across chunks", () => {
    const bytes = enc.encode('{"text":"こんにちは🙂"}\n');
    // Split inside "こ" (3 bytes) and inside the emoji (4 bytes).
    const cut1 = 10;
    const cut2 = bytes.length - 5;
    const d = new NdjsonDecoder();
    const out = [...d.push(bytes.slice(0, cut1)), ...d.push(bytes.slice(cut1, cut2)), ...d.push(bytes.slice(cut2))];
    expect(out).toEqual([{ text: "こんにちは🙂" }]);
  });

  it("splits byte by byte", () => {
    const bytes = enc.encode('{"text":"日本語"}\n{"n":2}\n');
    const d = new NdjsonDecoder();
    const out: unknown[] = [];
    for (const b of bytes) out.push(...d.push(Uint8Array.of(b)));
    expect(out).toEqual([{ text: "日本語" }, { n: 2 }]);
  });

  it("returns a last line without a newline at the end", () => {
    const d = new NdjsonDecoder();
    expect(d.push(enc.encode('{"a":1}\n{"b":2}'))).toEqual([{ a: 1 }]);
    expect(d.end()).toEqual([{ b: 2 }]);
  });

  it("skips blank lines and CRLF endings", () => {
    const d = new NdjsonDecoder();
    expect(d.push(enc.encode('\r\n{"a":1}\r\n\n  \n{"b":2}\r\n'))).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it("throws on a line that is not JSON", () => {
    const d = new NdjsonDecoder();
    expect(() => d.push(enc.encode("<html>oops</html>\n"))).toThrow(NdjsonParseError);
  });
});

describe("readNdjson", () => {
  it("yields objects from a stream and passes error lines through", async () => {
    const items = await collect([
      enc.encode('{"type":"start","session_id":"s1"}\n{"type":"tok'),
      enc.encode('en","text":"a"}\n{"type":"error","error":{"code":"backend_error","message":"x"}}\n'),
    ]);
    expect(items).toEqual([
      { type: "start", session_id: "s1" },
      { type: "token", text: "a" },
      { type: "error", error: { code: "backend_error", message: "x" } },
    ]);
  });

  it("calls onChunk once per network chunk", async () => {
    let chunks = 0;
    const items: unknown[] = [];
    for await (const item of readNdjson(streamOf([enc.encode('{"a"'), enc.encode(":1}\n")]), () => (chunks += 1))) {
      items.push(item);
    }
    expect(chunks).toBe(2);
    expect(items).toEqual([{ a: 1 }]);
  });
});
