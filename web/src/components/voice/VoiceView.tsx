"use client";

import { useCallback, useEffect, useId, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import { PendingStatus } from "@/components/PendingStatus";
import { useUpload } from "@/components/useUpload";
import { WorkerNotice } from "@/components/WorkerNotice";
import { recordingFileName } from "@/lib/audio";
import { validSessionId } from "@/lib/chat";
import { readStored, SESSION_KEY } from "@/lib/storage";
import type { VoiceFeedback } from "@/lib/types";
import { toFormData } from "@/lib/upload";

import { AudioPicker, type AudioInput } from "./AudioPicker";
import { RecorderPanel } from "./RecorderPanel";
import { useRecorder, type Recording } from "./useRecorder";
import { VoiceOptions, type VoiceChoices } from "./VoiceOptions";
import { VoiceResult } from "./VoiceResult";

export function VoiceView() {
  const { t, settings } = useApp();
  const [input, setInput] = useState<AudioInput | null>(null);
  const [choices, setChoices] = useState<VoiceChoices>({ prompt: "", returnAudio: false, saveToChat: false });
  const [chatSession, setChatSession] = useState<string | null>(null);
  const upload = useUpload<VoiceFeedback>("/voice-feedback", settings.modelTimeoutMs);
  const { reset } = upload;
  const { pending, result, error } = upload;
  const audioId = useId();

  useEffect(() => {
    // The chat this page can add its exchange to (remembered by the chat page).
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setChatSession(validSessionId(readStored(SESSION_KEY)));
  }, []);

  const replaceInput = useCallback((next: AudioInput | null) => {
    setInput((previous) => {
      if (previous) URL.revokeObjectURL(previous.url);
      return next;
    });
    reset();
  }, [reset]);

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

  const submit = () => {
    if (!input) return;
    const form = toFormData({
      audio: { blob: input.blob, name: input.name },
      prompt: choices.prompt.trim(),
      return_audio: choices.returnAudio ? "true" : "false",
      session_id: choices.saveToChat ? chatSession : null,
    });
    void upload.submit({ form });
  };

  return (
    <div className="mx-auto w-full max-w-3xl space-y-4 px-3 py-6 sm:px-6">
      <header>
        <h1 className="text-2xl font-semibold">{t("voice.title")}</h1>
        <p className="mt-1 text-slate-600 dark:text-slate-400">{t("voice.intro")}</p>
      </header>
      <WorkerNotice />

      <section className="card space-y-4" aria-labelledby={audioId}>
        <h2 id={audioId} className="sr-only">{t("voice.your_audio")}</h2>
        <RecorderPanel recorder={recorder} busy={!!pending} />
        <AudioPicker input={input} onChange={replaceInput} />
      </section>

      <section className="card space-y-4">
        <VoiceOptions value={choices} onChange={(patch) => setChoices((c) => ({ ...c, ...patch }))} canSave={!!chatSession} />
        <div className="flex flex-wrap items-center gap-3">
          <button type="button" className="btn-primary" disabled={!input || !!pending || recorder.recording} onClick={submit} data-testid="voice-submit">
            {t("voice.submit")}
          </button>
          {pending && <PendingStatus label={t("voice.working")} onCancel={upload.cancel} />}
          {!input && !pending && <span className="text-sm text-slate-600 dark:text-slate-400">{t("voice.no_audio")}</span>}
        </div>
      </section>

      {error && <ErrorNotice error={error} onRetry={input ? submit : undefined} onDismiss={() => upload.setError(null)} />}

      {result && <VoiceResult result={result} />}
    </div>
  );
}
