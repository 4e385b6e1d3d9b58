"use client";

import { useId } from "react";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import { DEFAULT_PARAMS, PARAM_LIMITS, type ChatParams } from "@/lib/chat";
import { formatBytes, percent } from "@/lib/format";
import { groupModels, type ModelGroup } from "@/lib/models";
import type { MessageKey } from "@/lib/i18n";
import type { ModelInfo } from "@/lib/types";

import type { useModels } from "./useModels";

type Models = ReturnType<typeof useModels>;

function optionLabel(model: ModelInfo, isDefault: boolean, t: (k: MessageKey) => string) {
  const state = t(`settings.state.${model.state}` as MessageKey);
  const parts = [model.name, model.reason && model.state === "failed" ? `${state}: ${model.reason}` : state];
  if (model.size_bytes) parts.push(formatBytes(model.size_bytes));
  if (isDefault) parts.push(t("settings.default"));
  return parts.join(" · ");
}

export function ModelPicker({ models, disabled }: { models: Models; disabled: boolean }) {
  const { t } = useApp();
  const id = useId();
  const { list } = models;
  const groups = groupModels(list);
  const groupLabel = (g: ModelGroup) => (g.kind === "ollama" ? "Ollama" : g.kind === "worker" ? t("status.worker") : g.label);
  return (
    <div className="flex min-w-0 flex-1 items-center gap-2 sm:flex-none">
      <label htmlFor={id} className="sr-only text-sm font-medium text-slate-700 sm:not-sr-only dark:text-slate-300">
        {t("settings.model")}
      </label>
      <select
        id={id}
        data-testid="model-select"
        className="text-input min-w-0 flex-1 py-1.5 sm:w-auto sm:max-w-xl sm:flex-none"
        value={models.selected}
        disabled={disabled || !list}
        onChange={(e) => models.setSelected(e.target.value)}
      >
        {!list && <option value="">{models.error ? t("settings.models_error") : t("settings.models_loading")}</option>}
        {groups.map((g) => (
          <optgroup key={g.key} label={groupLabel(g)} data-testid="model-group">
            {g.models.map((m) => (
              <option key={m.name} value={m.name}>
                {optionLabel(m, m.name === list?.default, t)}
              </option>
            ))}
            {g.failed && (
              <option disabled value={`${g.label}/`} data-testid="backend-failed">
                {t("settings.backend_failed", { name: g.label, reason: g.failed.reason ?? "" })}
              </option>
            )}
          </optgroup>
        ))}
      </select>
    </div>
  );
}

/** What the person should know about the chosen model: download it, it is loading, it failed. */
export function ModelNotice({ models }: { models: Models }) {
  const { t } = useApp();
  const { current, pull } = models;
  if (models.error && !models.list) {
    return <ErrorNotice error={models.error} onRetry={() => void models.reload()} />;
  }
  if (pull) {
    const pct = pull.done ? 100 : percent(pull.completed, pull.total);
    return (
      <div className="card space-y-2 text-sm" data-testid="pull-panel">
        <div className="flex items-center justify-between gap-2">
          <p className="font-medium">
            {pull.error
              ? t("pull.failed", { name: pull.name })
              : pull.done
                ? t("pull.done", { name: pull.name })
                : t("pull.progress", { name: pull.name })}
          </p>
          {!pull.done && !pull.error && (
            <button type="button" className="btn-secondary" onClick={models.cancelPull}>
              {t("pull.cancel")}
            </button>
          )}
          {(pull.done || pull.error) && (
            <button type="button" className="btn-ghost" onClick={models.clearPull}>
              {t("common.dismiss")}
            </button>
          )}
        </div>
        {!pull.error && (
          <>
            <div
              role="progressbar"
              aria-label={t("pull.progress", { name: pull.name })}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={pct == null ? undefined : Math.round(pct)}
              data-testid="pull-progress"
              className="h-2.5 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
            >
              <div
                className={`h-full rounded-full bg-indigo-600 transition-[width] duration-200 ${pct == null ? "w-1/3 animate-pulse" : ""}`}
                style={pct == null ? undefined : { width: `${pct}%` }}
              />
            </div>
            <p className="text-xs text-slate-600 dark:text-slate-400" aria-live="polite">
              {pull.status && `${t("pull.status")}: ${pull.status}`}
              {pull.total ? ` · ${formatBytes(pull.completed)} / ${formatBytes(pull.total)}` : ""}
              {pct != null ? ` · ${pct.toFixed(0)}%` : ""}
            </p>
          </>
        )}
        {pull.error && <ErrorNotice error={pull.error} onRetry={() => void models.startPull(pull.name)} />}
      </div>
    );
  }
  if (!current) return null;
  if (current.state === "not_pulled") {
    return (
      <div className="flex flex-wrap items-center gap-3 rounded-xl border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950/50 dark:text-amber-100">
        <p className="flex-1">{t("pull.needed", { name: current.name })}</p>
        <button type="button" className="btn-primary" onClick={() => void models.startPull(current.name)}>
          {t("pull.button")}
        </button>
      </div>
    );
  }
  if (current.state === "loading" || current.state === "failed") {
    return (
      <p className="rounded-xl border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950/50 dark:text-amber-100">
        {t(current.state === "loading" ? "model.loading_note" : "model.failed_note")}
      </p>
    );
  }
  return null;
}

function Slider({
  name,
  label,
  help,
  value,
  onChange,
}: {
  name: keyof ChatParams;
  label: string;
  help: string;
  value: number;
  onChange: (value: number) => void;
}) {
  const id = useId();
  const { min, max, step } = PARAM_LIMITS[name];
  return (
    <div>
      <div className="flex items-center justify-between gap-2">
        <label htmlFor={id} className="field-label">
          {label}
        </label>
        <output htmlFor={id} className="text-sm tabular-nums">
          {name === "max_tokens" ? value : value.toFixed(2)}
        </output>
      </div>
      <input
        id={id}
        type="range"
        min={min}
        max={max}
        step={step}
        value={value}
        aria-describedby={`${id}-help`}
        onChange={(e) => onChange(Number(e.target.value))}
        className="mt-1 w-full accent-indigo-600"
        data-testid={`param-${name}`}
      />
      <p id={`${id}-help`} className="field-help">
        {help}
      </p>
    </div>
  );
}

export function ParamsPanel({
  params,
  onChange,
  system,
  onSystemChange,
}: {
  params: ChatParams;
  onChange: (params: ChatParams) => void;
  system: string;
  onSystemChange: (value: string) => void;
}) {
  const { t } = useApp();
  const systemId = useId();
  return (
    <div className="grid gap-4 sm:grid-cols-3">
      <Slider name="temperature" label={t("settings.temperature")} help={t("settings.temperature_help")} value={params.temperature} onChange={(v) => onChange({ ...params, temperature: v })} />
      <Slider name="top_p" label={t("settings.top_p")} help={t("settings.top_p_help")} value={params.top_p} onChange={(v) => onChange({ ...params, top_p: v })} />
      <Slider name="max_tokens" label={t("settings.max_tokens")} help={t("settings.max_tokens_help")} value={params.max_tokens} onChange={(v) => onChange({ ...params, max_tokens: v })} />
      <div className="sm:col-span-3">
        <label htmlFor={systemId} className="field-label">
          {t("settings.system")}
        </label>
        <textarea
          id={systemId}
          rows={2}
          className="text-input mt-1"
          value={system}
          placeholder={t("settings.system_placeholder")}
          onChange={(e) => onSystemChange(e.target.value)}
        />
      </div>
      <div className="sm:col-span-3">
        <button type="button" className="btn-ghost" onClick={() => onChange(DEFAULT_PARAMS)}>
          {t("settings.reset")}
        </button>
      </div>
    </div>
  );
}
