"use client";

import { useApp } from "./AppProvider";
import { useReadiness } from "./ReadinessProvider";

/** On pages that need the model worker: say so when it is not ready, before a request waits or fails. */
export function WorkerNotice() {
  const { t } = useApp();
  const readiness = useReadiness();
  const worker = readiness.parts.find((p) => p.name === "worker");
  if (readiness.overall === "unreachable") {
    return <p role="status" className="notice-warn">{t("status.help.unreachable")}</p>;
  }
  if (!worker || worker.state === "ready") return null;
  const key = worker.state === "loading" ? "worker.loading" : "worker.down";
  return (
    <p role="status" className="notice-warn" data-testid="worker-notice">
      {t(key)}
      {worker.detail ? ` (${worker.detail})` : ""}
    </p>
  );
}
