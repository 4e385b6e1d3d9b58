/**
 * The conversation as the page shows it: the model's text turns (pieces appended as they come) and the
 * person's speech segments (from vad.ts), in time order. A model piece continues the model's turn unless
 * the person spoke since; then it starts a new one.
 */
import type { VadEvent } from "./vad";

export type Turn =
  | { who: "model"; startMs: number; text: string }
  | { who: "user"; startMs: number; durationMs: number; open: boolean };

/** The turns with this model text piece added (a new array; earlier turns are shared). */
export function addModelText(turns: readonly Turn[], text: string, atMs: number): Turn[] {
  if (!text) return turns as Turn[];
  const last = turns[turns.length - 1];
  if (last && last.who === "model") return [...turns.slice(0, -1), { ...last, text: last.text + text }];
  // Begin a turn without the leading space English pieces carry.
  return [...turns, { who: "model", startMs: atMs, text: text.trimStart() }];
}

/** The turns with a speech-activity event applied. */
export function addUserSpeech(turns: readonly Turn[], event: VadEvent): Turn[] {
  if (event.type === "start") return [...turns, { who: "user", startMs: event.atMs, durationMs: 0, open: true }];
  for (let i = turns.length - 1; i >= 0; i -= 1) {
    const turn = turns[i];
    if (turn.who === "user" && turn.startMs === event.startMs) {
      const updated: Turn = { ...turn, durationMs: event.durationMs, open: event.type === "update" };
      return [...turns.slice(0, i), updated, ...turns.slice(i + 1)];
    }
  }
  return turns as Turn[];
}

/** Keep the page light in long conversations: at most `max` turns, the newest. */
export function trimTurns(turns: Turn[], max = 200): Turn[] {
  return turns.length > max ? turns.slice(turns.length - max) : turns;
}
