"use client";

import { useCallback, useEffect, useId, useRef, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import { Markdown } from "@/components/Markdown";
import { WorkerNotice } from "@/components/WorkerNotice";
import { MAX_RECORDING_S, recordingFileName } from "@/lib/audio";
import { validSessionId } from "@/lib/chat";
import type { ApiError } from "@/lib/errors";
import { formatClock, formatMs } from "@/lib/format";
import { apiJson, TimedRequest } from "@/lib/request";
import type { VoiceFeedback } from "@/lib/types";

import { useRecorder, type Recording } from "./useRecorder";

interface AudioInput {
  blob: Blob;
  name: string;
  url: string;
  source: "recording" | "file";
  /** Known for recordings (MediaRecorder's WebM carries no duration the player can show). */
  seconds: number | null;
}

export function VoiceView() {
  const { t, settings } = useApp();
  const [input, setInput] = useState<AudioInput | null>(null);
  const [prompt, setPrompt] = useState("");
  const [returnAudio, setReturnAudio] = useState(false);
  const [saveToChat, setSaveToChat] = useState(false);
  const [chatSession, setChatSession] = useState<string | null>(null);
  const [pending, setPending] = useState<TimedRequest | null>(null);
  const [result, setResult] = useState<{ body: VoiceFeedback; clientMs: number } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const ids = { prompt: useId(), file: useId(), audio: useId(), save: useId() };
  const fileRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    try {
      // The chat this page can add its exchange to (remembered by the chat page).
      // eslint-disable-next-line react-hooks/set-state-in-effect
      setChatSession(validSessionId(localStorage.getItem("chat.session")));
    } catch {
      setChatSession(null);
    }
  }, []);

  const replaceInput = useCallback((next: AudioInput | null) => {
    setInput((previous) => {
      if (previous) URL.revokeObjectURL(previous.url);
      return next;
    });
    setResult(null);
    setError(null);
  }, []);

  const onRecorded = useCallback(
    (rec: Recording) =>
      replaceInput({
        blob: rec.blob,
        name: recordingFileName(rec.mimeType),
        url: URL.createObjectURL(rec.blob),
        source: "recording",
        seconds: rec.seconds,
      }),
    [replaceInput],
  );
  const recorder = useRecorder(onRecorded);

  const submit = async () => {
    if (!input || pending) return;
    const request = new TimedRequest(settings.modelTimeoutMs);
    setPending(request);
    setError(null);
    setResult(null);
    const form = new FormData();
    form.append("audio", input.blob, input.name);
    if (prompt.trim()) form.append("prompt", prompt.trim());
    form.append("return_audio", returnAudio ? "true" : "false");
    if (saveToChat && chatSession) form.append("session_id", chatSession);
    const started = performance.now();
    try {
      const body = await apiJson<VoiceFeedback>("/voice-feedback", { form, timeoutMs: settings.modelTimeoutMs, request });
      setResult({ body, clientMs: performance.now() - started });
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setPending(null);
    }
  };

  const mic = recorder.error;
  return (
    <div className="mx-auto w-full max-w-3xl space-y-4 px-3 py-6 sm:px-6">
      <header>
        <h1 className="text-2xl font-semibold">{t("voice.title")}</h1>
        <p className="mt-1 text-slate-600 dark:text-slate-400">{t("voice.intro")}</p>
      </header>
      <WorkerNotice />

      <section className="card space-y-4" aria-labelledby={ids.audio}>
        <h2 id={ids.audio} className="sr-only">{t("voice.your_audio")}</h2>
        <div className="flex flex-wrap items-center gap-4">
          {recorder.recording ? (
            <button type="button" className="btn-danger" onClick={recorder.stop} data-testid="record-stop">
              <span aria-hidden className="h-3 w-3 rounded-sm bg-white" />
              {t("voice.stop_recording")}
            </button>
          ) : (
            <button type="button" className="btn-primary" onClick={() => void recorder.start()} disabled={recorder.starting || !!pending} data-testid="record-start">
              <span aria-hidden className="h-3 w-3 rounded-full bg-red-400" />
              {t("voice.record")}
            </button>
          )}
          <div className="flex min-w-[12rem] flex-1 items-center gap-3" aria-hidden={!recorder.recording}>
            <span className={`font-mono text-lg tabular-nums ${recorder.recording ? "text-red-700 dark:text-red-400" : "text-slate-600 dark:text-slate-400"}`} data-testid="record-timer">
              {formatClock(recorder.elapsed)}
              <span className="text-sm text-slate-600 dark:text-slate-400"> / {formatClock(MAX_RECORDING_S)}</span>
            </span>
            <div
              role="meter"
              aria-label={t("voice.level")}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(recorder.level * 100)}
              data-testid="level-meter"
              className="h-3 flex-1 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
            >
              <div
                className="h-full rounded-full bg-gradient-to-r from-emerald-500 via-amber-400 to-red-500 transition-[width] duration-75"
                style={{ width: `${Math.round(recorder.level * 100)}%` }}
              />
            </div>
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

        <div className="border-t border-slate-200 pt-4 dark:border-slate-800">
          <label htmlFor={ids.file} className="field-label">{t("voice.or_upload")}</label>
          <input
            id={ids.file}
            ref={fileRef}
            type="file"
            accept="audio/*,.wav,.flac,.ogg,.opus,.webm,.mp3,.m4a,.aac"
            data-testid="audio-file"
            className="mt-1 block w-full text-sm text-slate-700 file:mr-3 file:rounded-lg file:border-0 file:bg-slate-200 file:px-3 file:py-1.5 file:text-sm file:font-medium file:text-slate-900 hover:file:bg-slate-300 dark:text-slate-300 dark:file:bg-slate-700 dark:file:text-slate-100"
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) replaceInput({ blob: file, name: file.name, url: URL.createObjectURL(file), source: "file", seconds: null });
            }}
          />
          <p className="field-help mt-1">{t("voice.file_types")}</p>
        </div>

        {input && (
          <div className="rounded-xl bg-slate-50 p-3 dark:bg-slate-950" data-testid="audio-preview">
            <div className="flex items-center justify-between gap-2">
              <p className="truncate text-sm font-medium">
                {t("voice.your_audio")}: {input.name}
                {input.seconds != null && <span className="font-normal text-slate-600 dark:text-slate-400"> · {formatClock(input.seconds)}</span>}
              </p>
              <button
                type="button"
                className="btn-ghost"
                onClick={() => {
                  replaceInput(null);
                  if (fileRef.current) fileRef.current.value = "";
                }}
              >
                {t("voice.clear")}
              </button>
            </div>
            <audio controls src={input.url} className="mt-2 w-full" />
          </div>
        )}
      </section>

      <section className="card space-y-4">
        <div>
          <label htmlFor={ids.prompt} className="field-label">{t("voice.prompt")}</label>
          <textarea
            id={ids.prompt}
            rows={2}
            className="text-input mt-1"
            value={prompt}
            placeholder={t("voice.prompt_placeholder")}
            onChange={(e) => setPrompt(e.target.value)}
          />
        </div>
        <div className="flex flex-wrap gap-x-6 gap-y-2">
          <label className="flex items-start gap-2 text-sm">
            <input type="checkbox" className="mt-0.5 h-4 w-4 accent-indigo-600" checked={returnAudio} onChange={(e) => setReturnAudio(e.target.checked)} data-testid="return-audio" />
            <span>
              <span className="font-medium">{t("voice.return_audio")}</span>
              <span className="block text-xs text-slate-600 dark:text-slate-400">{t("voice.return_audio_help")}</span>
            </span>
          </label>
          {chatSession && (
            <label htmlFor={ids.save} className="flex items-start gap-2 text-sm">
              <input id={ids.save} type="checkbox" className="mt-0.5 h-4 w-4 accent-indigo-600" checked={saveToChat} onChange={(e) => setSaveToChat(e.target.checked)} />
              <span className="font-medium">{t("voice.save_to_chat")}</span>
            </label>
          )}
        </div>
        <div className="flex flex-wrap items-center gap-3">
          <button type="button" className="btn-primary" disabled={!input || !!pending || recorder.recording} onClick={() => void submit()} data-testid="voice-submit">
            {t("voice.submit")}
          </button>
          {pending && (
            <>
              <span className="flex items-center gap-2 text-sm text-slate-600 dark:text-slate-400" role="status">
                <span aria-hidden className="h-4 w-4 animate-spin rounded-full border-2 border-indigo-600 border-t-transparent" />
                {t("voice.working")}
              </span>
              <button type="button" className="btn-secondary" onClick={() => pending.cancel()}>
                {t("common.cancel")}
              </button>
            </>
          )}
          {!input && !pending && <span className="text-sm text-slate-600 dark:text-slate-400">{t("voice.no_audio")}</span>}
        </div>
      </section>

      {error && <ErrorNotice error={error} onRetry={input ? () => void submit() : undefined} onDismiss={() => setError(null)} />}

      {result && (
        <section className="card space-y-4" aria-live="polite" data-testid="voice-result">
          <div>
            <h2 className="text-lg font-semibold">{t("voice.feedback")}</h2>
            <div className="mt-2" data-testid="voice-feedback">
              <Markdown text={result.body.feedback} />
            </div>
          </div>
          {result.body.transcript && (
            <div>
              <h3 className="font-semibold">{t("voice.transcript")}</h3>
              <p className="mt-1 whitespace-pre-wrap rounded-lg bg-slate-50 p-3 text-sm dark:bg-slate-950" data-testid="voice-transcript">{result.body.transcript}</p>
            </div>
          )}
          {result.body.audio?.base64 && (
            <div>
              <h3 className="font-semibold">{t("voice.spoken_reply")}</h3>
              <audio controls className="mt-2 w-full" data-testid="voice-reply-audio" src={`data:audio/${result.body.audio.format || "wav"};base64,${result.body.audio.base64}`} />
              {result.body.audio.truncated && (
                <p className="mt-1 text-xs text-amber-700 dark:text-amber-400" data-testid="voice-reply-truncated">{t("voice.spoken_reply_truncated")}</p>
              )}
            </div>
          )}
          <dl className="flex flex-wrap gap-x-6 gap-y-1 text-sm text-slate-600 dark:text-slate-400">
            <div className="flex gap-1">
              <dt>{t("common.response_time")}:</dt>
              <dd className="tabular-nums" data-testid="voice-response-time">{formatMs(result.clientMs)}</dd>
            </div>
            {result.body.timings?.total_ms != null && (
              <div className="flex gap-1">
                <dt>{t("common.server_time")}:</dt>
                <dd className="tabular-nums">{formatMs(result.body.timings.total_ms)}</dd>
              </div>
            )}
            {result.body.duration_s != null && (
              <div className="flex gap-1">
                <dt>{t("voice.duration")}:</dt>
                <dd className="tabular-nums">{formatMs(result.body.duration_s * 1000)}</dd>
              </div>
            )}
            <div className="flex gap-1">
              <dt>{t("common.model")}:</dt>
              <dd>{result.body.model}</dd>
            </div>
          </dl>
        </section>
      )}
    </div>
  );
}
