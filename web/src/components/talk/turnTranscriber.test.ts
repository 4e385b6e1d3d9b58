import { afterEach, describe, expect, it, vi } from "vitest";

import { addUserSpeech, type Turn, type UserTurn } from "@/lib/talk/transcript";

import type { UserAudio } from "./talkSession";
import { TurnTranscriber } from "./turnTranscriber";

afterEach(() => vi.unstubAllGlobals());

const settle = () => new Promise((r) => setTimeout(r, 0));
const piece = (startMs: number): UserAudio => ({ startMs, samples: new Float32Array(2400), sampleRate: 24_000, last: true });
const error = (status: number, code: string) =>
  Response.json({ error: { code, message: code, request_id: "r" } }, { status });

/** A transcriber over turns that started at `starts`, with fetch answering from `answers` in order. */
function setup(starts: number[], answers: (() => Response)[]) {
  let turns: Turn[] = [];
  for (const atMs of starts) {
    turns = addUserSpeech(turns, { type: "start", atMs });
    turns = addUserSpeech(turns, { type: "end", startMs: atMs, durationMs: 1000 });
  }
  const fetchMock = vi.fn(async (_url: string, init: RequestInit) => {
    expect(init.body).toBeInstanceOf(FormData);
    const answer = answers.shift();
    return answer ? answer() : Response.json({ transcript: "more" });
  });
  vi.stubGlobal("fetch", fetchMock);
  const off: string[] = [];
  const transcriber = new TurnTranscriber({
    turns: (change) => (turns = change(turns)),
    unavailable: (reason) => off.push(reason),
  }, () => "en");
  const user = (startMs: number) => turns.find((t) => t.who === "user" && t.startMs === startMs) as UserTurn;
  return { transcriber, fetchMock, off, user };
}

describe("TurnTranscriber", () => {
  it("puts each turn's words into that turn, one request at a time", async () => {
    const { transcriber, fetchMock, off, user } = setup([0, 2000], [
      () => Response.json({ transcript: "hello" }), () => Response.json({ transcript: "" }),
    ]);
    transcriber.add(piece(0));
    transcriber.add(piece(2000));
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(user(2000).pending).toBe(1);
    for (let i = 0; i < 5; i += 1) await settle();
    expect(fetchMock).toHaveBeenCalledTimes(2);
    expect(user(0)).toMatchObject({ words: "hello", pending: 0 });
    expect(user(2000)).toMatchObject({ words: "", pending: 0 });
    expect(off).toEqual([]);
  });

  it.each([
    [404, "model_not_found", "model_not_found"],
    [503, "backend_unavailable", "backend_unavailable"],
  ])("stops after the first %i %s and says so once", async (status, code, reason) => {
    const { transcriber, fetchMock, off, user } = setup([0, 2000, 4000], [() => error(status, code)]);
    transcriber.add(piece(0));
    transcriber.add(piece(2000));
    for (let i = 0; i < 5; i += 1) await settle();
    transcriber.add(piece(4000));
    for (let i = 0; i < 5; i += 1) await settle();
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(off).toEqual([reason]);
    expect(transcriber.active).toBe(false);
    for (const start of [0, 2000, 4000]) expect(user(start)).toMatchObject({ pending: 0, words: null, note: null });
  });

  it("stops on a network failure", async () => {
    const { transcriber, off } = setup([0], []);
    vi.stubGlobal("fetch", vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    }));
    transcriber.add(piece(0));
    for (let i = 0; i < 5; i += 1) await settle();
    expect(off).toEqual(["unreachable"]);
  });

  it("notes a turn's own failure and goes on; several in a row end transcription", async () => {
    const { transcriber, fetchMock, off, user } = setup([0, 2000, 4000, 6000], [
      () => error(504, "backend_timeout"), () => error(422, "unprocessable_media"), () => error(502, "backend_error"),
    ]);
    transcriber.add(piece(0));
    for (let i = 0; i < 5; i += 1) await settle();
    expect(user(0).note).toBe("talk.words.failed_timeout");
    expect(off).toEqual([]);
    transcriber.add(piece(2000));
    transcriber.add(piece(4000));
    for (let i = 0; i < 10; i += 1) await settle();
    expect(user(2000).note).toBe("talk.words.failed_audio");
    expect(off).toEqual(["failing"]);
    transcriber.add(piece(6000));
    expect(fetchMock).toHaveBeenCalledTimes(3);
    expect(user(6000).pending).toBe(0);
  });

  it("drops the oldest waiting turn when too many wait, with a note", async () => {
    const { transcriber, user } = setup([0, 1, 2, 3, 4], []);
    for (const start of [0, 1, 2, 3, 4]) transcriber.add(piece(start));
    expect(user(1)).toMatchObject({ pending: 0, note: "talk.words.dropped" });
    expect(user(2).pending).toBe(1);
    transcriber.close();
    for (let i = 0; i < 5; i += 1) await settle();
    for (const start of [0, 2, 3, 4]) expect(user(start).pending).toBe(0);
  });
});
