/**
 * The conversation as the page shows it: the model's text turns (pieces appended as they come) and the
 * person's speech segments (from vad.ts), in time order. A model piece continues the model's turn unless
 * the person spoke since; then it starts a new one. Moshi does not transcribe the person: each of their
 * turns gets its words afterwards from the speech-to-text route (transcribe.ts), merged in here by the
 * turn's start time. A turn longer than a piece (turnAudio.ts) gets its words piece by piece, in order.
 */
import type { MessageKey } from "@/lib/i18n";

import type { VadEvent } from "./vad";

export interface UserTurn {
  who: "user";
  startMs: number;
  durationMs: number;
  open: boolean;
  /** The words transcribed so far; null while none came (or the turn is not transcribed). */
  words: string | null;
  /** Pieces of this turn sent or waiting to be sent. */
  pending: number;
  /** Why a piece of this turn has no words (too many waiting, or its request failed), for a short note. */
  note: MessageKey | null;
}

export type Turn = { who: "model"; startMs: number; text: string } | UserTurn;

/** The turns with this model text piece added (a new array; earlier turns are shared). */
export function addModelText(turns: readonly Turn[], text: string, atMs: number): Turn[] {
  if (!text) return turns as Turn[];
  const last = turns[turns.length - 1];
  if (last && last.who === "model") return [...turns.slice(0, -1), { ...last, text: last.text + text }];
  // Begin a turn without the leading space English pieces carry.
  return [...turns, { who: "model", startMs: atMs, text: text.trimStart() }];
}

function updateUser(turns: readonly Turn[], startMs: number, change: (turn: UserTurn) => UserTurn): Turn[] {
  for (let i = turns.length - 1; i >= 0; i -= 1) {
    const turn = turns[i];
    if (turn.who === "user" && turn.startMs === startMs) return [...turns.slice(0, i), change(turn), ...turns.slice(i + 1)];
  }
  return turns as Turn[];
}

/** The turns with a speech-activity event applied. */
export function addUserSpeech(turns: readonly Turn[], event: VadEvent): Turn[] {
  if (event.type === "start") {
    return [...turns, { who: "user", startMs: event.atMs, durationMs: 0, open: true, words: null, pending: 0, note: null }];
  }
  return updateUser(turns, event.startMs, (turn) => ({ ...turn, durationMs: event.durationMs, open: event.type === "update" }));
}

/** A piece of this turn was queued for transcription. */
export function markTranscribing(turns: readonly Turn[], startMs: number): Turn[] {
  return updateUser(turns, startMs, (turn) => ({ ...turn, pending: turn.pending + 1 }));
}

/** Two pieces' words joined: no space between Japanese (or other CJK) text. */
export function joinWords(a: string, b: string): string {
  if (!a) return b;
  if (!b) return a;
  const cjk = /[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]/;
  return cjk.test(a[a.length - 1]) || cjk.test(b[0]) ? a + b : `${a} ${b}`;
}

/** A piece's words arrived (possibly empty: nothing was heard). */
export function addUserWords(turns: readonly Turn[], startMs: number, text: string): Turn[] {
  return updateUser(turns, startMs, (turn) => ({
    ...turn, words: joinWords(turn.words ?? "", text.trim()), pending: Math.max(0, turn.pending - 1),
  }));
}

/** A piece got no words: `note` says why (null: say nothing, the turn just shows when it was spoken). */
export function userWordsMissing(turns: readonly Turn[], startMs: number, note: MessageKey | null): Turn[] {
  return updateUser(turns, startMs, (turn) => ({ ...turn, pending: Math.max(0, turn.pending - 1), note: note ?? turn.note }));
}

/** What a user turn shows for its words. */
export type WordsView =
  | { kind: "activity" } // not transcribed: when and how long only
  | { kind: "transcribing"; words: string | null }
  | { kind: "words"; words: string }
  | { kind: "nothing" };

export function wordsView(turn: UserTurn): WordsView {
  if (turn.pending > 0) return { kind: "transcribing", words: turn.words || null };
  if (turn.words === null) return { kind: "activity" };
  return turn.words ? { kind: "words", words: turn.words } : { kind: "nothing" };
}

/** Keep the page light in long conversations: at most `max` turns, the newest. */
export function trimTurns(turns: Turn[], max = 200): Turn[] {
  return turns.length > max ? turns.slice(turns.length - max) : turns;
}
