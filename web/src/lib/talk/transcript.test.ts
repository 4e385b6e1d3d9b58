import { describe, expect, it } from "vitest";

import {
  addModelText,
  addUserSpeech,
  addUserWords,
  joinWords,
  markTranscribing,
  userWordsMissing,
  wordsView,
  type Turn,
  type UserTurn,
} from "./transcript";

const user = (turns: Turn[], startMs: number) => turns.find((t) => t.who === "user" && t.startMs === startMs) as UserTurn;

function spoken(): Turn[] {
  let turns: Turn[] = [];
  turns = addUserSpeech(turns, { type: "start", atMs: 500 });
  turns = addUserSpeech(turns, { type: "end", startMs: 500, durationMs: 1200 });
  turns = addModelText(turns, "はい", 900);
  turns = addUserSpeech(turns, { type: "start", atMs: 3000 });
  return turns;
}

describe("the person's words in their turn", () => {
  it("shows speech activity until a piece is sent, then transcribing, then the words", () => {
    let turns = spoken();
    expect(wordsView(user(turns, 500))).toEqual({ kind: "activity" });
    turns = markTranscribing(turns, 500);
    expect(wordsView(user(turns, 500))).toEqual({ kind: "transcribing", words: null });
    const before = turns;
    turns = addUserWords(turns, 500, "  hello there ");
    expect(wordsView(user(turns, 500))).toEqual({ kind: "words", words: "hello there" });
    // Only that turn changed; the others are the same objects; order kept.
    expect(turns.map((t) => t.who)).toEqual(["user", "model", "user"]);
    expect(turns[1]).toBe(before[1]);
    expect(turns[2]).toBe(before[2]);
    expect(user(turns, 500).durationMs).toBe(1200);
  });

  it("says nothing was heard for an empty transcript", () => {
    let turns = markTranscribing(spoken(), 500);
    turns = addUserWords(turns, 500, " ");
    expect(wordsView(user(turns, 500))).toEqual({ kind: "nothing" });
  });

  it("joins the pieces of a long turn in order and stays transcribing until the last", () => {
    let turns = markTranscribing(spoken(), 3000);
    turns = markTranscribing(turns, 3000);
    turns = addUserWords(turns, 3000, "first part");
    expect(wordsView(user(turns, 3000))).toEqual({ kind: "transcribing", words: "first part" });
    turns = addUserWords(turns, 3000, "second");
    expect(wordsView(user(turns, 3000))).toEqual({ kind: "words", words: "first part second" });
    // The speech events still apply to a turn with words.
    turns = addUserSpeech(turns, { type: "end", startMs: 3000, durationMs: 61_000 });
    expect(user(turns, 3000)).toMatchObject({ open: false, durationMs: 61_000, words: "first part second" });
  });

  it("keeps a note for a piece that got no words, and falls back to speech activity", () => {
    let turns = markTranscribing(spoken(), 500);
    turns = userWordsMissing(turns, 500, "talk.words.dropped");
    expect(user(turns, 500)).toMatchObject({ pending: 0, words: null, note: "talk.words.dropped" });
    expect(wordsView(user(turns, 500))).toEqual({ kind: "activity" });
    turns = markTranscribing(spoken(), 500);
    turns = userWordsMissing(turns, 500, null);
    expect(user(turns, 500)).toMatchObject({ pending: 0, note: null });
  });

  it("ignores words for a turn that is gone (trimmed) and never goes below zero pending", () => {
    const turns = spoken();
    expect(addUserWords(turns, 12345, "lost")).toEqual(turns);
    expect(user(addUserWords(turns, 500, "x"), 500).pending).toBe(0);
  });

  it("joins Japanese pieces without a space", () => {
    expect(joinWords("こんにちは", "元気です")).toBe("こんにちは元気です");
    expect(joinWords("hello", "world")).toBe("hello world");
    expect(joinWords("", "world")).toBe("world");
    expect(joinWords("hello", "")).toBe("hello");
  });
});
