"use client";

import { useId } from "react";

import { useApp } from "@/components/AppProvider";
import type { Problem, ServiceStatus } from "@/lib/talk/protocol";

import { TalkNotice } from "./TalkNotice";
import { TalkStats } from "./TalkStats";
import { TalkTranscript } from "./TalkTranscript";
import { useRealtimeStatus } from "./useRealtimeStatus";
import { useTalk } from "./useTalk";

/** The problem the status alone shows before any attempt (the service cannot take a conversation now). */
function statusProblem(status: ServiceStatus | null): Problem | null {
  if (!status) return null;
  if (status.state === "not_running" || status.state === "unreachable" || status.state === "loading") return status.state;
  return null;
}

function ServiceLine({ status, checking }: { status: ServiceStatus | null; checking: boolean }) {
  const { t } = useApp();
  const state = status?.state ?? "unknown";
  return (
    <p className="text-sm text-slate-700 dark:text-slate-300" data-testid="talk-status" data-state={checking ? "checking" : state}>
      <span className="font-medium">{t("talk.service")}: </span>
      {checking ? t("talk.service.checking") : t(`talk.service.${state}`)}
      {!checking && status?.model ? ` · ${status.model}` : ""}
      {!checking && status?.active != null && status.max != null
        ? ` · ${t("talk.service.conversations", { active: status.active, max: status.max })}`
        : ""}
    </p>
  );
}

/** The Talk page: a real-time spoken conversation with the voice model. */
export function TalkView() {
  const { t } = useApp();
  const { status, checking, refresh } = useRealtimeStatus();
  const talk = useTalk(refresh);
  const conversationId = useId();
  const running = talk.phase !== "idle";
  const fromStatus = running ? null : statusProblem(status);
  const shown = talk.problem ?? (fromStatus ? { problem: fromStatus, message: null } : null);

  return (
    <div className="mx-auto w-full max-w-3xl space-y-4 px-3 py-6 sm:px-6">
      <header>
        <h1 className="text-2xl font-semibold">{t("talk.title")}</h1>
        <p className="mt-1 text-slate-600 dark:text-slate-400">{t("talk.intro")}</p>
      </header>

      <section className="card space-y-4">
        <ServiceLine status={status} checking={checking} />
        <div className="flex flex-wrap items-center gap-4">
          {running ? (
            <button type="button" className="btn-danger" onClick={talk.stop} disabled={talk.phase === "stopping"} data-testid="talk-stop">
              <span aria-hidden className="h-3 w-3 rounded-sm bg-white" />
              {t("talk.stop")}
            </button>
          ) : (
            <button type="button" className="btn-primary" onClick={() => void talk.start()} data-testid="talk-start">
              <span aria-hidden className="h-3 w-3 rounded-full bg-red-400" />
              {t("talk.start")}
            </button>
          )}
          <p className="text-sm" role="status" data-testid="talk-state" data-state={talk.phase}>
            <span className="text-slate-600 dark:text-slate-400">{t("talk.state.label")}: </span>
            <span className={talk.phase === "live" ? "font-semibold text-emerald-700 dark:text-emerald-400" : "font-medium"}>
              {talk.phase === "live" && <span aria-hidden className="mr-1 inline-block h-2 w-2 animate-pulse rounded-full bg-emerald-600" />}
              {t(`talk.state.${talk.phase}`)}
            </span>
          </p>
        </div>
        {shown && (
          <TalkNotice
            problem={shown.problem}
            message={shown.message}
            status={status}
            onRetry={() => void refresh()}
            onDismiss={talk.problem ? talk.clearProblem : undefined}
          />
        )}
        <TalkStats stats={talk.stats} />
      </section>

      <section className="card space-y-3" aria-labelledby={conversationId}>
        <h2 id={conversationId} className="text-lg font-semibold">{t("talk.transcript")}</h2>
        <TalkTranscript turns={talk.turns} wordsOff={talk.wordsOff} />
      </section>
    </div>
  );
}
