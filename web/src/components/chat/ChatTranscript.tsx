"use client";

import { useEffect } from "react";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import type { ChatMessage } from "@/lib/chat";
import type { ApiError } from "@/lib/errors";

import { MessageItem } from "./MessageItem";
import { ModelNotice } from "./ModelPanel";
import type { useFollowScroll } from "./useFollowScroll";
import type { useModels } from "./useModels";

interface TranscriptProps {
  messages: ChatMessage[];
  loading: boolean;
  busy: boolean;
  notice: ApiError | string | null;
  onDismissNotice: () => void;
  models: ReturnType<typeof useModels>;
  scroll: ReturnType<typeof useFollowScroll>;
  onRetry: (answerKey: string) => void;
}

/** A string notice (a chat that no longer exists) or an error. */
function ChatNotice({ notice, onDismiss }: { notice: ApiError | string; onDismiss: () => void }) {
  if (typeof notice !== "string") return <ErrorNotice error={notice} onDismiss={onDismiss} />;
  return (
    <p role="status" className="rounded-xl border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950/50 dark:text-amber-100">
      {notice}
    </p>
  );
}

/** The scrolling conversation: notices, the empty state, and the messages (following the answer). */
export function ChatTranscript({ messages, loading, busy, notice, onDismissNotice, models, scroll, onRetry }: TranscriptProps) {
  const { t } = useApp();
  const { keepUp, onScroll, listRef } = scroll;
  useEffect(keepUp, [messages, keepUp]);
  return (
    <div className="min-h-0 flex-1 overflow-y-auto px-3 py-4 sm:px-6" onScroll={onScroll} data-follow-scroll>
      <div className="mx-auto max-w-3xl space-y-3">
        {notice && <ChatNotice notice={notice} onDismiss={onDismissNotice} />}
        <ModelNotice models={models} />
        {loading && <p className="text-sm text-slate-600 dark:text-slate-400">{t("chat.loading_session")}</p>}
        {!loading && messages.length === 0 && (
          <div className="py-12 text-center">
            <h1 className="text-2xl font-semibold">{t("chat.empty_title")}</h1>
            <p className="mx-auto mt-2 max-w-md text-slate-600 dark:text-slate-400">{t("chat.empty_body")}</p>
          </div>
        )}
        <ol ref={listRef} className="space-y-4" aria-busy={busy} data-testid="message-list">
          {messages.map((m) => (
            <MessageItem key={m.key} message={m} onRetry={m.status === "error" ? () => onRetry(m.key) : undefined} />
          ))}
        </ol>
      </div>
    </div>
  );
}
