/**
 * NDJSON (one JSON object per line) decoding for streamed answers.
 *
 * Network chunks split anywhere: in the middle of a line, or in the middle of a multibyte UTF-8
 * character. The decoder keeps both the undecoded bytes (TextDecoder in stream mode) and the
 * unfinished line until the rest arrives.
 */

export class NdjsonParseError extends Error {
  constructor(public readonly line: string) {
    super(`The server sent a line that is not JSON: ${line.slice(0, 120)}`);
    this.name = "NdjsonParseError";
  }
}

export class NdjsonDecoder {
  private readonly decoder = new TextDecoder("utf-8");
  private buffer = "";

  /** Feed one chunk; returns every complete line's object, in order. */
  push(chunk: Uint8Array): unknown[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    return this.drain(false);
  }

  /** The stream ended: returns the last line's object if it had no trailing newline. */
  end(): unknown[] {
    this.buffer += this.decoder.decode();
    return this.drain(true);
  }

  private drain(final: boolean): unknown[] {
    const out: unknown[] = [];
    let newline = this.buffer.indexOf("\n");
    while (newline >= 0) {
      pushLine(out, this.buffer.slice(0, newline));
      this.buffer = this.buffer.slice(newline + 1);
      newline = this.buffer.indexOf("\n");
    }
    if (final) {
      pushLine(out, this.buffer);
      this.buffer = "";
    }
    return out;
  }
}

function pushLine(out: unknown[], raw: string): void {
  const line = raw.trim();
  if (!line) return;
  try {
    out.push(JSON.parse(line));
  } catch {
    throw new NdjsonParseError(line);
  }
}

/** Read a byte stream as NDJSON objects. `onChunk` is called for every network chunk (progress). */
export async function* readNdjson(
  body: ReadableStream<Uint8Array>,
  onChunk?: () => void,
): AsyncGenerator<unknown> {
  const reader = body.getReader();
  const decoder = new NdjsonDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk?.();
      yield* decoder.push(value);
    }
    yield* decoder.end();
  } finally {
    reader.releaseLock();
  }
}
