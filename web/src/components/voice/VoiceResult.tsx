"use client";

import { useApp } from "@/components/AppProvider";
import { Markdown } from "@/components/Markdown";
import { formatMs } from "@/lib/format";
import type { VoiceFeedback } from "@/lib/types";
import type { TimedResult } from "@/lib/upload";

function VoiceFacts({ result }: { result: TimedResult<VoiceFeedback> }) {
  const { t } = useApp();
  const { body } = result;
  return (
    <dl className="flex flex-wrap gap-x-6 gap-y-1 text-sm text-slate-600 dark:text-slate-400">
      <div className="flex gap-1">
        <dt>{t("common.response_time")}:</dt>
        <dd className="tabular-nums" data-testid="voice-response-time">{formatMs(result.clientMs)}</dd>
      </div>
      {body.timings?.total_ms != null && (
        <div className="flex gap-1">
          <dt>{t("common.server_time")}:</dt>
          <dd className="tabular-nums">{formatMs(body.timings.total_ms)}</dd>
        </div>
      )}
      {body.duration_s != null && (
        <div className="flex gap-1">
          <dt>{t("voice.duration")}:</dt>
          <dd className="tabular-nums">{formatMs(body.duration_s * 1000)}</dd>
        </div>
      )}
      <div className="flex gap-1">
        <dt>{t("common.model")}:</dt>
        <dd>{body.model}</dd>
      </div>
    </dl>
  );
}

/** The feedback (Markdown), the transcript, the spoken reply, and the timings. */
export function VoiceResult({ result }: { result: TimedResult<VoiceFeedback> }) {
  const { t } = useApp();
  const { body } = result;
  return (
    <section className="card space-y-4" aria-live="polite" data-testid="voice-result">
      <div>
        <h2 className="text-lg font-semibold">{t("voice.feedback")}</h2>
        <div className="mt-2" data-testid="voice-feedback">
          <Markdown text={body.feedback} />
        </div>
      </div>
      {body.transcript && (
        <div>
          <h3 className="font-semibold">{t("voice.transcript")}</h3>
          <p className="mt-1 whitespace-pre-wrap rounded-lg bg-slate-50 p-3 text-sm dark:bg-slate-950" data-testid="voice-transcript">{body.transcript}</p>
        </div>
      )}
      {body.audio?.base64 && (
        <div>
          <h3 className="font-semibold">{t("voice.spoken_reply")}</h3>
          <audio controls className="mt-2 w-full" data-testid="voice-reply-audio" src={`data:audio/${body.audio.format || "wav"};base64,${body.audio.base64}`} />
          {body.audio.truncated && (
            <p className="mt-1 text-xs text-amber-700 dark:text-amber-400" data-testid="voice-reply-truncated">{t("voice.spoken_reply_truncated")}</p>
          )}
        </div>
      )}
      <VoiceFacts result={result} />
    </section>
  );
}
