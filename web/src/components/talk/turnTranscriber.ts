/**
 * The person's words for one conversation: each ended turn's audio (from talkSession's `userAudio`) is queued
 * (turnQueue.ts: one request at a time, in order, at most 3 waiting), sent to `POST /api/transcribe`, and the
 * words merged into that turn (transcript.ts). The first failure that means the route cannot transcribe now
 * (no Omni model, worker loading or down, no route, nothing reachable), or a few failed turns in a row, ends
 * transcription for this conversation: the page then says why once and the turns show speech activity only.
 */
import {
  MAX_FAILURES_IN_A_ROW,
  transcribeTurn,
  turnFailureKey,
  unavailableReason,
  type Unavailable,
} from "@/lib/talk/transcribe";
import { addUserWords, markTranscribing, userWordsMissing, type Turn } from "@/lib/talk/transcript";
import { TurnQueue } from "@/lib/talk/turnQueue";

import type { UserAudio } from "./talkSession";

export interface TranscriberEvents {
  /** Apply a change to the turns (React's functional update). */
  turns(change: (turns: Turn[]) => Turn[]): void;
  /** Transcription ended for this conversation, and why. */
  unavailable(reason: Unavailable): void;
}

export class TurnTranscriber {
  private readonly queue: TurnQueue<UserAudio, string>;
  private failuresInARow = 0;

  constructor(
    private readonly events: TranscriberEvents,
    private readonly language: () => string,
  ) {
    this.queue = new TurnQueue<UserAudio, string>({
      run: (piece, signal) => transcribeTurn(piece.samples, piece.sampleRate, this.language(), signal),
      done: (piece, words) => {
        this.failuresInARow = 0;
        this.events.turns((t) => addUserWords(t, piece.startMs, words));
      },
      failed: (piece, err) => {
        const reason = unavailableReason(err);
        if ((err as { code?: string })?.code === "cancelled") {
          this.events.turns((t) => userWordsMissing(t, piece.startMs, null));
          return;
        }
        this.failuresInARow += 1;
        const off = reason ?? (this.failuresInARow >= MAX_FAILURES_IN_A_ROW ? "failing" : null);
        this.events.turns((t) => userWordsMissing(t, piece.startMs, off ? null : turnFailureKey(err)));
        if (off) this.end(off);
      },
      dropped: (piece, why) =>
        this.events.turns((t) => userWordsMissing(t, piece.startMs, why === "overflow" ? "talk.words.dropped" : null)),
    });
  }

  get active(): boolean {
    return !this.queue.isClosed;
  }

  /** A piece of a turn's audio to transcribe (ignored once transcription ended). */
  add(piece: UserAudio): void {
    if (this.queue.isClosed) return;
    this.events.turns((t) => markTranscribing(t, piece.startMs));
    this.queue.push(piece);
  }

  /** A new conversation or leaving the page: drop what waits and abort the request in flight. */
  close(): void {
    this.queue.close(true);
  }

  private end(reason: Unavailable): void {
    if (this.queue.isClosed) return;
    this.queue.close();
    this.events.unavailable(reason);
  }
}
