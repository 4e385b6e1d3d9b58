"use client";

import { useId, useState } from "react";

import { useApp } from "@/components/AppProvider";

export function Composer({
  busy,
  disabled,
  onSend,
  onStop,
}: {
  busy: boolean;
  disabled: boolean;
  onSend: (text: string) => boolean;
  onStop: () => void;
}) {
  const { t } = useApp();
  const id = useId();
  const [text, setText] = useState("");

  const submit = () => {
    if (busy || disabled || !text.trim()) return;
    if (onSend(text)) setText("");
  };

  return (
    <form
      className="flex items-end gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label htmlFor={id} className="sr-only">
        {t("chat.input_label")}
      </label>
      <textarea
        id={id}
        data-testid="chat-input"
        rows={2}
        value={text}
        placeholder={t("chat.input_placeholder")}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
        className="text-input max-h-48 min-h-[2.75rem] flex-1 resize-y"
      />
      {busy ? (
        <button type="button" className="btn-danger" onClick={onStop} data-testid="stop-button">
          <span aria-hidden className="h-3 w-3 rounded-sm bg-white" />
          {t("chat.stop")}
        </button>
      ) : (
        <button type="submit" className="btn-primary" disabled={disabled || !text.trim()} data-testid="send-button">
          {t("chat.send")}
        </button>
      )}
    </form>
  );
}
