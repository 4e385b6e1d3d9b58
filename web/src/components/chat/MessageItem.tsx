"use client";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import { Markdown } from "@/components/Markdown";
import { answerMetrics, type ChatMessage } from "@/lib/chat";
import { formatMs, formatRate } from "@/lib/format";

function Metrics({ message }: { message: ChatMessage }) {
  const { t } = useApp();
  const m = answerMetrics(message);
  if (m.firstTokenMs == null && m.totalMs == null) return null;
  return (
    <dl className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-600 dark:text-slate-400" data-testid="answer-metrics">
      <div className="flex gap-1">
        <dt>{t("chat.ttft")}</dt>
        <dd className="tabular-nums" data-testid="metric-ttft">{formatMs(m.firstTokenMs)}</dd>
      </div>
      {m.totalMs != null && (
        <div className="flex gap-1">
          <dt>{t("chat.total")}</dt>
          <dd className="tabular-nums" data-testid="metric-total">{formatMs(m.totalMs)}</dd>
        </div>
      )}
      {m.tokensPerS != null && (
        <div className="flex gap-1">
          <dt>{t("chat.speed")}</dt>
          <dd className="tabular-nums" data-testid="metric-speed">{formatRate(m.tokensPerS)}</dd>
        </div>
      )}
      {m.tokens != null && (
        <div className="flex gap-1">
          <dt>{t("chat.tokens")}</dt>
          <dd className="tabular-nums">{m.tokens}</dd>
        </div>
      )}
    </dl>
  );
}

export function MessageItem({ message, onRetry }: { message: ChatMessage; onRetry?: () => void }) {
  const { t } = useApp();
  const mine = message.role === "user";
  return (
    <li
      className={`flex ${mine ? "justify-end" : "justify-start"}`}
      data-testid={mine ? "user-message" : "assistant-message"}
      data-status={message.status}
    >
      <article
        aria-label={mine ? t("chat.you") : t("chat.assistant")}
        className={`max-w-[min(46rem,100%)] rounded-2xl px-4 py-3 ${
          mine
            ? "bg-indigo-600 text-white"
            : "border border-slate-200 bg-white text-slate-900 shadow-sm dark:border-slate-800 dark:bg-slate-900 dark:text-slate-100"
        }`}
      >
        {!mine && message.model && <p className="mb-1 text-xs font-medium text-slate-500 dark:text-slate-400">{message.model}</p>}
        {mine ? (
          <p className="whitespace-pre-wrap break-words">{message.content}</p>
        ) : message.content ? (
          <div data-testid="answer-text">
            <Markdown text={message.content} streaming={message.status === "streaming"} />
          </div>
        ) : message.status === "streaming" ? (
          <p className="flex items-center gap-2 text-sm text-slate-600 dark:text-slate-400">
            <span aria-hidden className="h-2 w-2 animate-ping rounded-full bg-indigo-500" />
            {t("chat.thinking")}
          </p>
        ) : null}
        {!mine && message.status !== "error" && <Metrics message={message} />}
        {message.status === "stopped" && (
          <p className="mt-2 text-xs font-medium text-amber-800 dark:text-amber-300" data-testid="stopped-note">
            {t("chat.stopped")}
          </p>
        )}
        {message.status === "error" && message.error && (
          <div className="mt-1">
            <ErrorNotice error={message.error} onRetry={onRetry} />
          </div>
        )}
      </article>
    </li>
  );
}
