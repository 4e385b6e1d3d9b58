"use client";

import { useCallback, useId, useRef, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import { WorkerNotice } from "@/components/WorkerNotice";
import { ApiError } from "@/lib/errors";
import { formatMs } from "@/lib/format";
import { apiJson, TimedRequest } from "@/lib/request";
import type { Detection } from "@/lib/types";

import { BoxOverlay } from "./BoxOverlay";

const ACCEPT = "image/png,image/jpeg,image/webp,application/pdf";

interface Picked {
  file: File;
  url: string;
  isImage: boolean;
}

export function DetectView() {
  const { t, settings } = useApp();
  const [picked, setPicked] = useState<Picked | null>(null);
  const [dragging, setDragging] = useState(false);
  const [prompt, setPrompt] = useState("");
  const [pending, setPending] = useState<TimedRequest | null>(null);
  const [result, setResult] = useState<{ body: Detection; clientMs: number } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [active, setActive] = useState<number | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const ids = { file: useId(), prompt: useId(), list: useId() };

  const pick = useCallback((file: File | undefined) => {
    if (!file) return;
    const isImage = file.type.startsWith("image/");
    if (!isImage && file.type !== "application/pdf") {
      setError(new ApiError("unsupported_media_type", t("detect.not_image")));
      return;
    }
    setPicked((previous) => {
      if (previous) URL.revokeObjectURL(previous.url);
      return { file, url: URL.createObjectURL(file), isImage };
    });
    setResult(null);
    setError(null);
    setActive(null);
  }, [t]);

  const submit = async () => {
    if (!picked || pending) return;
    const request = new TimedRequest(settings.modelTimeoutMs);
    setPending(request);
    setError(null);
    setResult(null);
    const form = new FormData();
    form.append("image", picked.file, picked.file.name);
    if (prompt.trim()) form.append("prompt", prompt.trim());
    const started = performance.now();
    try {
      const body = await apiJson<Detection>("/detect-fields", { form, timeoutMs: settings.modelTimeoutMs, request });
      setResult({ body, clientMs: performance.now() - started });
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setPending(null);
    }
  };

  const download = () => {
    if (!result || !picked) return;
    const payload = { file: picked.file.name, ...result.body };
    const blob = new Blob([JSON.stringify(payload, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${picked.file.name.replace(/\.[^.]+$/, "") || "form"}-fields.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  const boxes = result?.body.bboxes ?? [];
  return (
    <div className="mx-auto w-full max-w-7xl space-y-4 px-3 py-6 sm:px-6">
      <header>
        <h1 className="text-2xl font-semibold">{t("detect.title")}</h1>
        <p className="mt-1 text-slate-600 dark:text-slate-400">{t("detect.intro")}</p>
      </header>
      <WorkerNotice />

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
          pick(e.dataTransfer.files?.[0]);
        }}
        className={`rounded-2xl border-2 border-dashed p-6 text-center transition-colors focus-within:ring-4 focus-within:ring-indigo-500/50 ${
          dragging ? "border-indigo-500 bg-indigo-50 dark:bg-indigo-950/40" : "border-slate-300 bg-white dark:border-slate-700 dark:bg-slate-900"
        }`}
      >
        <p className="text-slate-700 dark:text-slate-300">
          {t("detect.drop")}{" "}
          <label htmlFor={ids.file} className="cursor-pointer font-semibold text-indigo-700 underline hover:text-indigo-800 dark:text-indigo-300">
            {t(picked ? "detect.change" : "detect.choose")}
          </label>
        </p>
        <input
          id={ids.file}
          ref={inputRef}
          type="file"
          accept={ACCEPT}
          className="sr-only"
          data-testid="image-file"
          onChange={(e) => pick(e.target.files?.[0])}
        />
        <p className="field-help mt-1">{t("detect.types")}</p>
        {picked && <p className="mt-2 truncate text-sm font-medium">{picked.file.name}</p>}
      </div>

      <div className="flex flex-wrap items-end gap-3">
        <div className="min-w-[16rem] flex-1">
          <label htmlFor={ids.prompt} className="field-label">{t("detect.prompt")}</label>
          <input id={ids.prompt} className="text-input mt-1" value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        </div>
        <button type="button" className="btn-primary" disabled={!picked || !!pending} onClick={() => void submit()} data-testid="detect-submit">
          {t("detect.submit")}
        </button>
        {pending && (
          <>
            <span className="flex items-center gap-2 text-sm text-slate-600 dark:text-slate-400" role="status">
              <span aria-hidden className="h-4 w-4 animate-spin rounded-full border-2 border-indigo-600 border-t-transparent" />
              {t("detect.working")}
            </span>
            <button type="button" className="btn-secondary" onClick={() => pending.cancel()}>
              {t("common.cancel")}
            </button>
          </>
        )}
      </div>

      {error && <ErrorNotice error={error} onRetry={picked ? () => void submit() : undefined} onDismiss={() => setError(null)} />}

      {picked && (
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-[minmax(0,1fr)_20rem]">
          <div className="card flex justify-center overflow-auto">
            {picked.isImage ? (
              <BoxOverlay
                src={picked.url}
                alt={t("detect.image_alt")}
                boxes={boxes}
                imageSize={result?.body.image_size ?? null}
                active={active}
                onActive={setActive}
              />
            ) : (
              <p className="py-10 text-slate-600 dark:text-slate-400">{picked.file.name}</p>
            )}
          </div>
          {result && (
            <aside className="card space-y-3" aria-labelledby={ids.list} data-testid="detect-result">
              <div className="flex items-center justify-between gap-2">
                <h2 id={ids.list} className="text-lg font-semibold">{t("detect.fields")}</h2>
                <button type="button" className="btn-secondary" onClick={download} data-testid="detect-download">
                  {t("detect.download")}
                </button>
              </div>
              <p className="text-sm text-slate-700 dark:text-slate-300" data-testid="detect-count">
                {result.body.count === 0
                  ? t("detect.none")
                  : result.body.count === 1
                    ? t("detect.count_one")
                    : t("detect.count", { count: result.body.count })}
              </p>
              <ol className="max-h-[55vh] space-y-1 overflow-y-auto" data-testid="field-list">
                {boxes.map((box, index) => {
                  const [x1, y1, x2, y2] = box.bbox_pixel;
                  const on = active === index;
                  return (
                    <li key={index}>
                      <button
                        type="button"
                        data-testid="field-item"
                        data-active={on}
                        aria-pressed={on}
                        onMouseEnter={() => setActive(index)}
                        onMouseLeave={() => setActive(null)}
                        onFocus={() => setActive(index)}
                        onBlur={() => setActive(null)}
                        className={`flex w-full items-center gap-3 rounded-lg px-2 py-1.5 text-left text-sm ${
                          on ? "bg-amber-100 text-amber-950 dark:bg-amber-950 dark:text-amber-100" : "hover:bg-slate-100 dark:hover:bg-slate-800"
                        }`}
                      >
                        <span className={`grid h-6 w-6 shrink-0 place-items-center rounded text-xs font-bold text-white ${on ? "bg-amber-600" : "bg-indigo-600"}`}>
                          {index + 1}
                        </span>
                        <span className="min-w-0">
                          <span className="block font-medium">{t("detect.field", { n: index + 1 })}</span>
                          <span className="block font-mono text-xs text-slate-600 dark:text-slate-400">
                            ({x1}, {y1}) – ({x2}, {y2}) · {t("detect.size", { w: x2 - x1, h: y2 - y1 })}
                          </span>
                        </span>
                      </button>
                    </li>
                  );
                })}
              </ol>
              <dl className="space-y-1 border-t border-slate-200 pt-3 text-sm text-slate-600 dark:border-slate-800 dark:text-slate-400">
                <div className="flex justify-between gap-2">
                  <dt>{t("detect.image_size")}</dt>
                  <dd className="tabular-nums">{result.body.image_size.width} × {result.body.image_size.height}</dd>
                </div>
                <div className="flex justify-between gap-2">
                  <dt>{t("common.response_time")}</dt>
                  <dd className="tabular-nums" data-testid="detect-response-time">{formatMs(result.clientMs)}</dd>
                </div>
                {result.body.timings?.total_ms != null && (
                  <div className="flex justify-between gap-2">
                    <dt>{t("common.server_time")}</dt>
                    <dd className="tabular-nums">{formatMs(result.body.timings.total_ms)}</dd>
                  </div>
                )}
                <div className="flex justify-between gap-2">
                  <dt>{t("common.model")}</dt>
                  <dd className="truncate">{result.body.model}</dd>
                </div>
              </dl>
              {result.body.raw_output && (
                <details className="text-sm">
                  <summary className="cursor-pointer font-medium">{t("detect.raw")}</summary>
                  <pre className="mt-2 max-h-48 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-100 p-2 text-xs dark:bg-slate-950">{result.body.raw_output}</pre>
                </details>
              )}
            </aside>
          )}
        </div>
      )}
    </div>
  );
}
