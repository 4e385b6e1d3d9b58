"use client";

import { useId } from "react";

import { useApp } from "@/components/AppProvider";
import { formatMs } from "@/lib/format";
import type { Detection, DetectedBox } from "@/lib/types";
import type { TimedResult } from "@/lib/upload";

/** Save the answer as `<image name>-fields.json`. */
function download(fileName: string, body: Detection) {
  const payload = { file: fileName, ...body };
  const blob = new Blob([JSON.stringify(payload, null, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${fileName.replace(/\.[^.]+$/, "") || "form"}-fields.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

interface Highlight {
  active: number | null;
  onActive: (index: number | null) => void;
}

function FieldItem({ box, index, active, onActive }: { box: DetectedBox; index: number } & Highlight) {
  const { t } = useApp();
  const [x1, y1, x2, y2] = box.bbox_pixel;
  const on = active === index;
  return (
    <li>
      <button
        type="button"
        data-testid="field-item"
        data-active={on}
        aria-pressed={on}
        onMouseEnter={() => onActive(index)}
        onMouseLeave={() => onActive(null)}
        onFocus={() => onActive(index)}
        onBlur={() => onActive(null)}
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
}

function DetectFacts({ result }: { result: TimedResult<Detection> }) {
  const { t } = useApp();
  const { body } = result;
  return (
    <dl className="space-y-1 border-t border-slate-200 pt-3 text-sm text-slate-600 dark:border-slate-800 dark:text-slate-400">
      <div className="flex justify-between gap-2">
        <dt>{t("detect.image_size")}</dt>
        <dd className="tabular-nums">{body.image_size.width} × {body.image_size.height}</dd>
      </div>
      <div className="flex justify-between gap-2">
        <dt>{t("common.response_time")}</dt>
        <dd className="tabular-nums" data-testid="detect-response-time">{formatMs(result.clientMs)}</dd>
      </div>
      {body.timings?.total_ms != null && (
        <div className="flex justify-between gap-2">
          <dt>{t("common.server_time")}</dt>
          <dd className="tabular-nums">{formatMs(body.timings.total_ms)}</dd>
        </div>
      )}
      <div className="flex justify-between gap-2">
        <dt>{t("common.model")}</dt>
        <dd className="truncate">{body.model}</dd>
      </div>
    </dl>
  );
}

/** The detected fields: count, a numbered list tied to the boxes, the timings, the raw answer, a download. */
export function DetectResult({ fileName, result, active, onActive }: { fileName: string; result: TimedResult<Detection> } & Highlight) {
  const { t } = useApp();
  const listId = useId();
  const { body } = result;
  return (
    <aside className="card space-y-3" aria-labelledby={listId} data-testid="detect-result">
      <div className="flex items-center justify-between gap-2">
        <h2 id={listId} className="text-lg font-semibold">{t("detect.fields")}</h2>
        <button type="button" className="btn-secondary" onClick={() => download(fileName, body)} data-testid="detect-download">
          {t("detect.download")}
        </button>
      </div>
      <p className="text-sm text-slate-700 dark:text-slate-300" data-testid="detect-count">
        {body.count === 0 ? t("detect.none") : body.count === 1 ? t("detect.count_one") : t("detect.count", { count: body.count })}
      </p>
      <ol className="max-h-[55vh] space-y-1 overflow-y-auto" data-testid="field-list">
        {(body.bboxes ?? []).map((box, index) => (
          <FieldItem key={index} box={box} index={index} active={active} onActive={onActive} />
        ))}
      </ol>
      <DetectFacts result={result} />
      {body.raw_output && (
        <details className="text-sm">
          <summary className="cursor-pointer font-medium">{t("detect.raw")}</summary>
          <pre className="mt-2 max-h-48 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-100 p-2 text-xs dark:bg-slate-950">{body.raw_output}</pre>
        </details>
      )}
    </aside>
  );
}
