"use client";

import { useApp } from "@/components/AppProvider";
import { unavailableKey, type Unavailable } from "@/lib/talk/transcribe";
import { wordsView, type Turn, type UserTurn } from "@/lib/talk/transcript";

/** A user turn's words: transcribing…, the words, (nothing heard), or when and how long they spoke. */
function UserWords({ turn }: { turn: UserTurn }) {
  const { t } = useApp();
  const view = wordsView(turn);
  const timing = t(turn.open ? "talk.you_speaking" : "talk.you_spoke", { seconds: (turn.durationMs / 1000).toFixed(1) });
  const state = view.kind;
  const words = view.kind === "words" || view.kind === "transcribing" ? view.words : null;
  return (
    <>
      {words ? (
        <span data-testid="talk-user-words" className="text-base text-slate-900 dark:text-slate-100">{words}</span>
      ) : view.kind === "nothing" ? (
        <span data-testid="talk-user-words" data-empty="true" className="italic">{t("talk.words.nothing")}</span>
      ) : null}
      {view.kind === "transcribing" && (
        <span className="ml-2 italic text-slate-600 dark:text-slate-400" data-testid="talk-user-transcribing">
          {t("talk.words.transcribing")}
        </span>
      )}
      <span className={state === "activity" ? "" : "ml-2 text-xs text-slate-600 dark:text-slate-400"} data-testid="talk-user-timing">
        {state === "activity" ? timing : `(${timing})`}
      </span>
      {turn.note && view.kind === "activity" && (
        <span className="ml-2 text-xs text-slate-600 dark:text-slate-400" data-testid="talk-user-note">{t(turn.note)}</span>
      )}
    </>
  );
}

/**
 * The model's words as it speaks them and the person's turns, in order: their words once transcribed (or
 * when and how long they spoke, when transcription is unavailable: then one line says why).
 */
export function TalkTranscript({ turns, wordsOff }: { turns: Turn[]; wordsOff: Unavailable | null }) {
  const { t } = useApp();
  return (
    <div className="space-y-2">
      {wordsOff ? (
        <p className="notice-warn text-sm" role="status" data-testid="talk-words-off" data-reason={wordsOff}>
          {t(unavailableKey(wordsOff))}
        </p>
      ) : (
        <p className="field-help">{t("talk.transcript_note_words")}</p>
      )}
      {turns.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">{t("talk.empty")}</p>
      ) : (
        <ol className="max-h-[28rem] space-y-2 overflow-y-auto" aria-live="polite" data-testid="talk-transcript">
          {turns.map((turn) =>
            turn.who === "model" ? (
              <li key={`m${turn.startMs}`} data-testid="talk-model-turn" className="rounded-xl bg-indigo-50 px-3 py-2 text-slate-900 dark:bg-indigo-950/60 dark:text-slate-100">
                <span className="mr-2 text-xs font-semibold uppercase text-indigo-800 dark:text-indigo-300">{t("talk.model")}</span>
                {turn.text}
              </li>
            ) : (
              <li
                key={`u${turn.startMs}`}
                data-testid="talk-user-turn"
                data-words={wordsView(turn).kind}
                className="rounded-xl border border-dashed border-slate-300 px-3 py-2 text-sm text-slate-700 dark:border-slate-700 dark:text-slate-300"
              >
                <span className="mr-2 text-xs font-semibold uppercase text-slate-700 dark:text-slate-300">{t("talk.you")}</span>
                <UserWords turn={turn} />
              </li>
            ),
          )}
        </ol>
      )}
    </div>
  );
}
