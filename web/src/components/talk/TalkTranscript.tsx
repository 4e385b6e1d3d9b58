"use client";

import { useApp } from "@/components/AppProvider";
import type { Turn } from "@/lib/talk/transcript";

/** The model's words as it speaks them and the person's speech turns (timed, not transcribed), in order. */
export function TalkTranscript({ turns }: { turns: Turn[] }) {
  const { t } = useApp();
  return (
    <div className="space-y-2">
      <p className="field-help">{t("talk.transcript_note")}</p>
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
              <li key={`u${turn.startMs}`} data-testid="talk-user-turn" className="rounded-xl border border-dashed border-slate-300 px-3 py-2 text-sm text-slate-700 dark:border-slate-700 dark:text-slate-300">
                <span className="mr-2 text-xs font-semibold uppercase text-slate-700 dark:text-slate-300">{t("talk.you")}</span>
                {t(turn.open ? "talk.you_speaking" : "talk.you_spoke", { seconds: (turn.durationMs / 1000).toFixed(1) })}
              </li>
            ),
          )}
        </ol>
      )}
    </div>
  );
}
