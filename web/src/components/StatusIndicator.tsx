"use client";

import { useEffect, useId, useRef, useState } from "react";

import type { MessageKey } from "@/lib/i18n";
import type { Overall, Part, PartState } from "@/lib/readiness";

import { useApp } from "./AppProvider";
import { useReadiness } from "./ReadinessProvider";

const DOT: Record<Overall, string> = {
  checking: "bg-slate-400",
  ready: "bg-emerald-500",
  degraded: "bg-amber-500",
  unavailable: "bg-red-600",
  unreachable: "bg-red-600",
};

const BADGE: Record<PartState, string> = {
  ready: "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200",
  loading: "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
  failed: "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
  down: "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
  disabled: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
  unknown: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
};

const PART_NAMES: Record<string, MessageKey> = {
  ollama: "status.ollama",
  worker: "status.worker",
  database: "status.database",
};

function PartRow({ part, nested = false }: { part: Part; nested?: boolean }) {
  const { t } = useApp();
  const name = PART_NAMES[part.name] ? t(PART_NAMES[part.name]) : part.name;
  return (
    <li className={nested ? "ml-4 mt-1" : "mt-2"}>
      <div className="flex items-center justify-between gap-3">
        <span className={nested ? "text-slate-600 dark:text-slate-300" : "font-medium"}>{name}</span>
        <span className={`rounded-full px-2 py-0.5 text-xs font-medium ${BADGE[part.state]}`}>
          {t(`status.state.${part.state}` as MessageKey)}
        </span>
      </div>
      {part.detail && <p className="mt-0.5 break-words text-xs text-slate-600 dark:text-slate-400">{part.detail}</p>}
      {part.parts.length > 0 && (
        <ul>
          {part.parts.map((child) => (
            <PartRow key={child.name} part={child} nested />
          ))}
        </ul>
      )}
    </li>
  );
}

export function StatusIndicator() {
  const { t, locale } = useApp();
  const readiness = useReadiness();
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const rootRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => event.key === "Escape" && setOpen(false);
    const onClick = (event: MouseEvent) => {
      if (!rootRef.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("mousedown", onClick);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("mousedown", onClick);
    };
  }, [open]);

  const label = t(`status.${readiness.overall}` as MessageKey);
  const help = readiness.overall === "checking" ? null : t(`status.help.${readiness.overall}` as MessageKey);

  return (
    <div ref={rootRef} className="relative">
      <button
        type="button"
        aria-expanded={open}
        aria-controls={panelId}
        data-testid="status-indicator"
        data-status={readiness.overall}
        onClick={() => setOpen((v) => !v)}
        className="flex items-center gap-2 rounded-lg border border-slate-300 px-2.5 py-1 text-sm text-slate-800 hover:bg-slate-100 dark:border-slate-600 dark:text-slate-100 dark:hover:bg-slate-800"
      >
        <span aria-hidden className={`h-2.5 w-2.5 rounded-full ${DOT[readiness.overall]} ${readiness.overall === "checking" ? "animate-pulse" : ""}`} />
        <span className="sr-only">{t("status.label")}: </span>
        <span aria-live="polite">{label}</span>
      </button>
      {open && (
        <div
          id={panelId}
          role="region"
          aria-label={t("status.details")}
          className="absolute right-0 z-40 mt-2 w-80 max-w-[calc(100vw-1.5rem)] rounded-xl border border-slate-200 bg-white p-4 text-sm text-slate-900 shadow-xl dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
        >
          <div className="flex items-center justify-between">
            <h2 className="font-semibold">{t("status.label")}: {label}</h2>
            <button type="button" onClick={() => setOpen(false)} className="rounded px-1 text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800" aria-label={t("status.close")}>
              ✕
            </button>
          </div>
          {help && <p className="mt-2 text-slate-700 dark:text-slate-300">{help}</p>}
          {readiness.message && <p className="mt-2 break-words text-xs text-red-800 dark:text-red-300">{readiness.message}</p>}
          {readiness.parts.length > 0 && (
            <ul>
              {readiness.parts.map((part) => (
                <PartRow key={part.name} part={part} />
              ))}
            </ul>
          )}
          {readiness.checkedAt && (
            <p className="mt-3 text-xs text-slate-500 dark:text-slate-400">
              {t("status.updated", { time: readiness.checkedAt.toLocaleTimeString(locale) })}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
