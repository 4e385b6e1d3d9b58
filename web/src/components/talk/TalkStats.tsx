"use client";

import { useApp } from "@/components/AppProvider";
import { formatClock, formatMs } from "@/lib/format";
import { meterLevel } from "@/lib/talk/vad";

import type { Stats } from "./talkSession";

function Meter({ label, rms, testId, tone }: { label: string; rms: number; testId: string; tone: string }) {
  const percent = Math.round(meterLevel(rms) * 100);
  return (
    <div className="flex items-center gap-3">
      <span className="w-32 shrink-0 text-sm text-slate-700 dark:text-slate-300">{label}</span>
      <div
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        data-testid={testId}
        className="h-3 flex-1 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
      >
        <div className={`h-full rounded-full ${tone} transition-[width] duration-75`} style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}

/** One figure; `data-value` holds the raw number (empty until known) for tests and tools. */
function Figure({ label, value, text, testId, help }: { label: string; value: number | null; text: string; testId: string; help?: string }) {
  return (
    <div className="rounded-xl bg-slate-50 px-3 py-2 dark:bg-slate-800/60" title={help}>
      <dt className="text-xs text-slate-600 dark:text-slate-400">{label}</dt>
      <dd className="font-mono text-lg tabular-nums" data-testid={testId} data-value={value ?? ""}>
        {text}
      </dd>
    </div>
  );
}

/** Levels both ways and the conversation's numbers: latency, time, audio played and sent, gaps. */
export function TalkStats({ stats }: { stats: Stats }) {
  const { t } = useApp();
  return (
    <div className="space-y-3">
      <Meter label={t("talk.mic_level")} rms={stats.micRms} testId="talk-mic-level" tone="bg-gradient-to-r from-emerald-500 via-amber-400 to-red-500" />
      <Meter label={t("talk.model_level")} rms={stats.modelRms} testId="talk-model-level" tone="bg-indigo-500" />
      <dl className="grid grid-cols-2 gap-2 sm:grid-cols-3">
        <Figure label={t("talk.latency")} help={t("talk.latency_help")} value={stats.latencyMs} text={formatMs(stats.latencyMs)} testId="talk-latency-ms" />
        <Figure label={t("talk.text_latency")} value={stats.textLatencyMs} text={formatMs(stats.textLatencyMs)} testId="talk-text-latency-ms" />
        <Figure label={t("talk.elapsed")} value={Math.round(stats.elapsedMs)} text={formatClock(stats.elapsedMs / 1000)} testId="talk-elapsed-ms" />
        <Figure label={t("talk.played")} value={stats.playedMs} text={formatMs(stats.playedMs)} testId="talk-played-ms" />
        <Figure label={t("talk.sent")} value={stats.pagesSent} text={String(stats.pagesSent)} testId="talk-sent-pages" />
        <Figure label={t("talk.underruns")} value={stats.underruns} text={String(stats.underruns)} testId="talk-underruns" />
      </dl>
    </div>
  );
}
