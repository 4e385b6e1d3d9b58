"use client";

import { useId, useState } from "react";

import { useApp } from "@/components/AppProvider";

const ACCEPT = "image/png,image/jpeg,image/webp,application/pdf";

/** Drop a form image here or choose one; `fileName` is the one picked so far. */
export function Dropzone({ fileName, onPick }: { fileName: string | null; onPick: (file: File | undefined) => void }) {
  const { t } = useApp();
  const [dragging, setDragging] = useState(false);
  const id = useId();
  return (
    <div
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        onPick(e.dataTransfer.files?.[0]);
      }}
      className={`rounded-2xl border-2 border-dashed p-6 text-center transition-colors focus-within:ring-4 focus-within:ring-indigo-500/50 ${
        dragging ? "border-indigo-500 bg-indigo-50 dark:bg-indigo-950/40" : "border-slate-300 bg-white dark:border-slate-700 dark:bg-slate-900"
      }`}
    >
      <p className="text-slate-700 dark:text-slate-300">
        {t("detect.drop")}{" "}
        <label htmlFor={id} className="cursor-pointer font-semibold text-indigo-700 underline hover:text-indigo-800 dark:text-indigo-300">
          {t(fileName !== null ? "detect.change" : "detect.choose")}
        </label>
      </p>
      <input id={id} type="file" accept={ACCEPT} className="sr-only" data-testid="image-file" onChange={(e) => onPick(e.target.files?.[0])} />
      <p className="field-help mt-1">{t("detect.types")}</p>
      {fileName !== null && <p className="mt-2 truncate text-sm font-medium">{fileName}</p>}
    </div>
  );
}
