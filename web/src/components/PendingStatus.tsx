"use client";

import { useApp } from "@/components/AppProvider";

/** "Working…" with a spinner and a Cancel button, while an upload runs. */
export function PendingStatus({ label, onCancel }: { label: string; onCancel: () => void }) {
  const { t } = useApp();
  return (
    <>
      <span className="flex items-center gap-2 text-sm text-slate-600 dark:text-slate-400" role="status">
        <span aria-hidden className="h-4 w-4 animate-spin rounded-full border-2 border-indigo-600 border-t-transparent" />
        {label}
      </span>
      <button type="button" className="btn-secondary" onClick={onCancel}>
        {t("common.cancel")}
      </button>
    </>
  );
}
