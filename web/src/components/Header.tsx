"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

import type { MessageKey } from "@/lib/i18n";

import { useApp } from "./AppProvider";
import { LanguageSwitcher } from "./LanguageSwitcher";
import { StatusIndicator } from "./StatusIndicator";

const NAV: { href: string; key: MessageKey }[] = [
  { href: "/chat", key: "nav.chat" },
  { href: "/voice", key: "nav.voice" },
  { href: "/detect", key: "nav.detect" },
  { href: "/talk", key: "nav.talk" },
];

export function Header() {
  const { t } = useApp();
  const pathname = usePathname();
  return (
    <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-slate-900">
        {t("app.skip")}
      </a>
      <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-4 gap-y-2 px-3 py-2 sm:px-4">
        <Link href="/chat" className="flex items-center gap-2 rounded font-semibold text-slate-900 dark:text-white">
          <span aria-hidden className="grid h-7 w-7 place-items-center rounded-lg bg-indigo-600 text-sm text-white">AI</span>
          <span className="hidden sm:inline">{t("app.name")}</span>
          <span className="sr-only sm:hidden">{t("app.name")}</span>
        </Link>
        <nav aria-label={t("nav.label")} className="order-3 w-full sm:order-none sm:w-auto">
          <ul className="flex gap-1 overflow-x-auto">
            {NAV.map(({ href, key }) => {
              const current = pathname === href || pathname.startsWith(`${href}/`);
              return (
                <li key={href}>
                  <Link
                    href={href}
                    aria-current={current ? "page" : undefined}
                    className={`block whitespace-nowrap rounded-lg px-2.5 py-1.5 text-sm font-medium sm:px-3 ${
                      current
                        ? "bg-indigo-50 text-indigo-800 dark:bg-indigo-950 dark:text-indigo-200"
                        : "text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
                    }`}
                  >
                    {t(key)}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className="ml-auto flex items-center gap-2">
          <StatusIndicator />
          <LanguageSwitcher />
        </div>
      </div>
    </header>
  );
}
