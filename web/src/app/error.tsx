"use client";

import { useApp } from "@/components/AppProvider";

/** A page that throws while rendering shows this instead of a blank screen. */
export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  const { t } = useApp();
  return (
    <div role="alert" className="mx-auto mt-10 max-w-xl px-4">
      <div className="card">
        <h1 className="text-lg font-semibold">{t("error.title")}</h1>
        <p className="mt-2 text-slate-700 dark:text-slate-300">{t("error.body")}</p>
        <p className="mt-2 break-words text-sm text-slate-600 dark:text-slate-400">
          {error.message}
          {error.digest ? ` (${error.digest})` : ""}
        </p>
        <div className="mt-4 flex gap-2">
          <button type="button" className="btn-primary" onClick={reset}>
            {t("common.retry")}
          </button>
          <button type="button" className="btn-secondary" onClick={() => window.location.reload()}>
            {t("error.reload")}
          </button>
        </div>
      </div>
    </div>
  );
}
