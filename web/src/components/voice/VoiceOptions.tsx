"use client";

import { useId } from "react";

import { useApp } from "@/components/AppProvider";

export interface VoiceChoices {
  prompt: string;
  returnAudio: boolean;
  saveToChat: boolean;
}

/** What to ask about the audio, spoken reply or not, and (with a chat open) whether to add the exchange to it. */
export function VoiceOptions({ value, onChange, canSave }: { value: VoiceChoices; onChange: (patch: Partial<VoiceChoices>) => void; canSave: boolean }) {
  const { t } = useApp();
  const ids = { prompt: useId(), save: useId() };
  return (
    <>
      <div>
        <label htmlFor={ids.prompt} className="field-label">{t("voice.prompt")}</label>
        <textarea
          id={ids.prompt}
          rows={2}
          className="text-input mt-1"
          value={value.prompt}
          placeholder={t("voice.prompt_placeholder")}
          onChange={(e) => onChange({ prompt: e.target.value })}
        />
      </div>
      <div className="flex flex-wrap gap-x-6 gap-y-2">
        <label className="flex items-start gap-2 text-sm">
          <input type="checkbox" className="mt-0.5 h-4 w-4 accent-indigo-600" checked={value.returnAudio} onChange={(e) => onChange({ returnAudio: e.target.checked })} data-testid="return-audio" />
          <span>
            <span className="font-medium">{t("voice.return_audio")}</span>
            <span className="block text-xs text-slate-600 dark:text-slate-400">{t("voice.return_audio_help")}</span>
          </span>
        </label>
        {canSave && (
          <label htmlFor={ids.save} className="flex items-start gap-2 text-sm">
            <input id={ids.save} type="checkbox" className="mt-0.5 h-4 w-4 accent-indigo-600" checked={value.saveToChat} onChange={(e) => onChange({ saveToChat: e.target.checked })} />
            <span className="font-medium">{t("voice.save_to_chat")}</span>
          </label>
        )}
      </div>
    </>
  );
}
