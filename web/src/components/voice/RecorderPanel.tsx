"use client";

import { useApp } from "@/components/AppProvider";
import { MAX_RECORDING_S } from "@/lib/audio";
import { formatClock } from "@/lib/format";

import type { useRecorder } from "./useRecorder";

type Recorder = ReturnType<typeof useRecorder>;

function LevelMeter({ level }: { level: number }) {
  const { t } = useApp();
  const percent = Math.round(level * 100);
  return (
    <div
      role="meter"
      aria-label={t("voice.level")}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      data-testid="level-meter"
      className="h-3 flex-1 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
    >
      <div
        className="h-full rounded-full bg-gradient-to-r from-emerald-500 via-amber-400 to-red-500 transition-[width] duration-75"
        style={{ width: `${percent}%` }}
      />
    </div>
  );
}

/** Record / Stop, the timer against the cap, the live level, and what went wrong with the microphone. */
export function RecorderPanel({ recorder, busy }: { recorder: Recorder; busy: boolean }) {
  const { t } = useApp();
  const mic = recorder.error;
  return (
    <>
      <div className="flex flex-wrap items-center gap-4">
        {recorder.recording ? (
          <button type="button" className="btn-danger" onClick={recorder.stop} data-testid="record-stop">
            <span aria-hidden className="h-3 w-3 rounded-sm bg-white" />
            {t("voice.stop_recording")}
          </button>
        ) : (
          <button type="button" className="btn-primary" onClick={() => void recorder.start()} disabled={recorder.starting || busy} data-testid="record-start">
            <span aria-hidden className="h-3 w-3 rounded-full bg-red-400" />
            {t("voice.record")}
          </button>
        )}
        <div className="flex min-w-[12rem] flex-1 items-center gap-3" aria-hidden={!recorder.recording}>
          <span className={`font-mono text-lg tabular-nums ${recorder.recording ? "text-red-700 dark:text-red-400" : "text-slate-600 dark:text-slate-400"}`} data-testid="record-timer">
            {formatClock(recorder.elapsed)}
            <span className="text-sm text-slate-600 dark:text-slate-400"> / {formatClock(MAX_RECORDING_S)}</span>
          </span>
          <LevelMeter level={recorder.level} />
        </div>
      </div>
      {recorder.recording && (
        <p className="text-sm font-medium text-red-700 dark:text-red-400" role="status">
          <span aria-hidden className="mr-1 inline-block h-2 w-2 animate-pulse rounded-full bg-red-600" />
          {t("voice.recording")}
        </p>
      )}
      {mic && (
        <p role="alert" data-testid="mic-error" className="rounded-xl border border-red-300 bg-red-50 p-3 text-sm text-red-950 dark:border-red-800 dark:bg-red-950/60 dark:text-red-100">
          {t(mic.key, { message: mic.message })}
        </p>
      )}
    </>
  );
}
