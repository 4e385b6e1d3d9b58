"use client";

import { ApiError, CLIENT_CODES, hintKey } from "@/lib/errors";
import { formatMs } from "@/lib/format";

import { useApp } from "./AppProvider";

/** A failed request in words: the contract's message and code, and what to do about it. */
export function ErrorNotice({
  error,
  onRetry,
  onDismiss,
  compact = false,
}: {
  error: ApiError;
  onRetry?: () => void;
  onDismiss?: () => void;
  /** One short line and the code, for narrow places such as the sidebar. */
  compact?: boolean;
}) {
  const { t, settings } = useApp();
  const hint = t(hintKey(error), {
    seconds: error.retryAfterS ?? 5,
    limit: formatMs(settings.modelTimeoutMs),
  });
  const quiet = error.code === "cancelled";
  if (compact) {
    return (
      <div role="alert" data-testid="error-notice" data-code={error.code} className="rounded-lg border border-red-300 bg-red-50 p-2 text-xs text-red-950 dark:border-red-800 dark:bg-red-950/60 dark:text-red-100">
        <p>{hint}</p>
        <p className="mt-1 opacity-90">
          {t("common.code")}: <code>{error.code}</code>
        </p>
        {onRetry && (
          <button type="button" onClick={onRetry} className="btn-secondary mt-2 px-2 py-1 text-xs">
            {t("common.retry")}
          </button>
        )}
      </div>
    );
  }
  return (
    <div
      role="alert"
      data-testid="error-notice"
      data-code={error.code}
      className={`rounded-xl border p-3 text-sm ${
        quiet
          ? "border-slate-300 bg-slate-50 text-slate-800 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-200"
          : "border-red-300 bg-red-50 text-red-950 dark:border-red-800 dark:bg-red-950/60 dark:text-red-100"
      }`}
    >
      {!quiet && <p className="font-semibold">{CLIENT_CODES.has(error.code) ? t("common.error") : error.message}</p>}
      <p className={quiet ? "" : "mt-1"}>{hint}</p>
      {!quiet && (
        <p className="mt-1 text-xs opacity-90">
          {t("common.code")}: <code>{error.code}</code>
          {error.status ? ` (HTTP ${error.status})` : ""}
          {error.requestId && (
            <>
              {" · "}
              {t("common.request_id")}: <code className="break-all">{error.requestId}</code>
            </>
          )}
        </p>
      )}
      {(onRetry || onDismiss) && (
        <div className="mt-2 flex gap-2">
          {onRetry && (
            <button type="button" onClick={onRetry} className="btn-secondary">
              {t("common.retry")}
            </button>
          )}
          {onDismiss && (
            <button type="button" onClick={onDismiss} className="btn-ghost">
              {t("common.dismiss")}
            </button>
          )}
        </div>
      )}
    </div>
  );
}
