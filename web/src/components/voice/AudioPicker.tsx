"use client";

import { useId, useRef } from "react";

import { useApp } from "@/components/AppProvider";
import { formatClock } from "@/lib/format";

export interface AudioInput {
  blob: Blob;
  name: string;
  url: string;
  source: "recording" | "file";
  /** Known for recordings (MediaRecorder's WebM carries no duration the player can show). */
  seconds: number | null;
}

/** Upload an audio file instead of recording, and play back (or clear) the audio about to be sent. */
export function AudioPicker({ input, onChange }: { input: AudioInput | null; onChange: (next: AudioInput | null) => void }) {
  const { t } = useApp();
  const id = useId();
  const fileRef = useRef<HTMLInputElement>(null);
  return (
    <>
      <div className="border-t border-slate-200 pt-4 dark:border-slate-800">
        <label htmlFor={id} className="field-label">{t("voice.or_upload")}</label>
        <input
          id={id}
          ref={fileRef}
          type="file"
          accept="audio/*,.wav,.flac,.ogg,.opus,.webm,.mp3,.m4a,.aac"
          data-testid="audio-file"
          className="mt-1 block w-full text-sm text-slate-700 file:mr-3 file:rounded-lg file:border-0 file:bg-slate-200 file:px-3 file:py-1.5 file:text-sm file:font-medium file:text-slate-900 hover:file:bg-slate-300 dark:text-slate-300 dark:file:bg-slate-700 dark:file:text-slate-100"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) onChange({ blob: file, name: file.name, url: URL.createObjectURL(file), source: "file", seconds: null });
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
                onChange(null);
                if (fileRef.current) fileRef.current.value = "";
              }}
            >
              {t("voice.clear")}
            </button>
          </div>
          <audio controls src={input.url} className="mt-2 w-full" />
        </div>
      )}
    </>
  );
}
