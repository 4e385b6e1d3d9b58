"use client";

import Link from "next/link";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import type { ApiError } from "@/lib/errors";
import type { SessionSummary } from "@/lib/types";

export function SessionSidebar({
  sessions,
  error,
  currentId,
  onNew,
  onDelete,
  onRetry,
  onNavigate,
}: {
  sessions: SessionSummary[] | null;
  error: ApiError | null;
  currentId: string | null;
  onNew: () => void;
  onDelete: (session: SessionSummary) => void;
  onRetry: () => void;
  onNavigate: () => void;
}) {
  const { t, locale } = useApp();
  const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  return (
    <div className="flex h-full flex-col gap-3 p-3">
      <button type="button" className="btn-primary w-full" onClick={onNew} data-testid="new-chat">
        <span aria-hidden>＋</span>
        {t("chat.new")}
      </button>
      <h2 className="px-1 text-xs font-semibold uppercase tracking-wide text-slate-600 dark:text-slate-400">{t("chat.sessions")}</h2>
      {error && <ErrorNotice error={error} onRetry={onRetry} compact />}
      {!error && sessions === null && <p className="px-1 text-sm text-slate-600 dark:text-slate-400">{t("common.loading")}</p>}
      {sessions?.length === 0 && <p className="px-1 text-sm text-slate-600 dark:text-slate-400">{t("chat.no_sessions")}</p>}
      <ul className="-mx-1 flex-1 space-y-1 overflow-y-auto px-1" data-testid="session-list">
        {sessions?.map((s) => {
          const current = s.id === currentId;
          const title = s.title?.trim() || t("chat.untitled");
          return (
            <li key={s.id} className="group relative" data-testid="session-item">
              <Link
                href={`/chat?session=${encodeURIComponent(s.id)}`}
                onClick={onNavigate}
                aria-current={current ? "page" : undefined}
                className={`block rounded-lg py-2 pl-3 pr-10 text-sm ${
                  current
                    ? "bg-indigo-100 text-indigo-950 dark:bg-indigo-950 dark:text-indigo-100"
                    : "text-slate-800 hover:bg-slate-200/70 dark:text-slate-200 dark:hover:bg-slate-800"
                }`}
              >
                <span className="block truncate font-medium">{title}</span>
                <span className="block text-xs text-slate-600 dark:text-slate-400">
                  {dateFormat.format(new Date(s.updated_at))} · {t("chat.messages_count", { count: s.message_count })}
                </span>
              </Link>
              <button
                type="button"
                onClick={() => onDelete(s)}
                aria-label={`${t("chat.delete")}: ${title}`}
                title={t("chat.delete")}
                data-testid="delete-session"
                className="absolute right-1 top-1/2 -translate-y-1/2 rounded-md p-1.5 text-slate-500 opacity-70 hover:bg-red-100 hover:text-red-700 hover:opacity-100 focus-visible:opacity-100 group-hover:opacity-100 dark:text-slate-400 dark:hover:bg-red-950 dark:hover:text-red-300"
              >
                <svg aria-hidden viewBox="0 0 20 20" className="h-4 w-4" fill="currentColor">
                  <path d="M8 2a1 1 0 0 0-.9.55L6.38 4H3a1 1 0 1 0 0 2h.1l.82 10.2A2 2 0 0 0 5.91 18h8.18a2 2 0 0 0 1.99-1.8L16.9 6H17a1 1 0 1 0 0-2h-3.38l-.72-1.45A1 1 0 0 0 12 2H8Zm-.5 6a.75.75 0 0 1 1.5 0v6a.75.75 0 0 1-1.5 0V8Zm3.5 0a.75.75 0 0 1 1.5 0v6a.75.75 0 0 1-1.5 0V8Z" />
                </svg>
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
