"use client";

import Link from "next/link";

import { useApp } from "@/components/AppProvider";

export default function NotFound() {
  const { t } = useApp();
  return (
    <div className="mx-auto mt-10 max-w-xl px-4">
      <div className="card">
        <h1 className="text-lg font-semibold">{t("notfound.title")}</h1>
        <p className="mt-2 text-slate-700 dark:text-slate-300">{t("notfound.body")}</p>
        <Link href="/chat" className="btn-primary mt-4">
          {t("notfound.home")}
        </Link>
      </div>
    </div>
  );
}
