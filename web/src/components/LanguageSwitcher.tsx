"use client";

import { LOCALES, type Locale } from "@/lib/i18n";

import { useApp } from "./AppProvider";

export function LanguageSwitcher() {
  const { locale, setLocale, t } = useApp();
  return (
    <div role="group" aria-label={t("lang.label")} className="flex rounded-lg border border-slate-300 p-0.5 dark:border-slate-600">
      {LOCALES.map((code: Locale) => (
        <button
          key={code}
          type="button"
          lang={code}
          aria-pressed={locale === code}
          onClick={() => setLocale(code)}
          className={`rounded-md px-2 py-1 text-xs font-medium ${
            locale === code
              ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900"
              : "text-slate-700 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800"
          }`}
        >
          {t(code === "en" ? "lang.en" : "lang.ja")}
        </button>
      ))}
    </div>
  );
}
