"use client";

import { useApp } from "@/components/AppProvider";
import type { MessageKey } from "@/lib/i18n";
import type { Problem, ServiceStatus } from "@/lib/talk/protocol";

/** Problems that are about the service's state rather than an error of this attempt. */
const SERVICE_STATES = new Set<Problem>(["not_running", "unreachable", "loading", "busy"]);
/** Problems of this browser or microphone: asking the service again would not help. */
const LOCAL = new Set<Problem>(["mic_denied", "mic_missing", "mic_busy", "mic_error", "mic_insecure", "no_webcodecs", "no_audio_support"]);

/** What went wrong (or why the service cannot take a conversation now) and what to do about it. */
export function TalkNotice({ problem, message, status, onRetry, onDismiss }: {
  problem: Problem;
  message: string | null;
  status: ServiceStatus | null;
  onRetry?: () => void;
  onDismiss?: () => void;
}) {
  const { t } = useApp();
  const detail = message ?? (problem === "loading" ? status?.progress : null) ?? (SERVICE_STATES.has(problem) ? status?.message : null);
  const warn = SERVICE_STATES.has(problem);
  const retry = LOCAL.has(problem) ? undefined : onRetry;
  return (
    <div
      role="alert"
      data-testid="talk-problem"
      data-problem={problem}
      className={warn ? "notice-warn" : "rounded-xl border border-red-300 bg-red-50 p-3 text-sm text-red-950 dark:border-red-800 dark:bg-red-950/60 dark:text-red-100"}
    >
      <p>{t(`talk.problem.${problem}` as MessageKey)}</p>
      {detail && <p className="mt-1 text-xs opacity-90">{t("talk.problem.detail", { message: detail })}</p>}
      {(retry || onDismiss) && (
        <div className="mt-2 flex gap-2">
          {retry && (
            <button type="button" className="btn-secondary" onClick={retry}>
              {t("talk.check_again")}
            </button>
          )}
          {onDismiss && (
            <button type="button" className="btn-ghost" onClick={onDismiss}>
              {t("common.dismiss")}
            </button>
          )}
        </div>
      )}
    </div>
  );
}
