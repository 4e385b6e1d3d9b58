import type { BackendInfo, ModelInfo, ModelList } from "./types";

/** One group of the model picker: Ollama's models, the worker's, or one OpenAI-compatible backend's. */
export interface ModelGroup {
  key: string;
  /** `ollama` and `worker` are translated by the view; a backend group is labelled with its configured name. */
  kind: "ollama" | "worker" | "openai";
  label: string;
  models: ModelInfo[];
  /** Set for a backend that answered badly: the picker shows it, disabled, with the reason. */
  failed: BackendInfo | null;
}

function providerOf(model: ModelInfo): string {
  return model.provider ?? model.name.split("/", 1)[0];
}

/** The picker's groups in a stable order: Ollama, the worker, then each backend in configuration order. */
export function groupModels(list: ModelList | null | undefined): ModelGroup[] {
  if (!list) return [];
  const groups: ModelGroup[] = [];
  for (const kind of ["ollama", "worker"] as const) {
    const models = list.models.filter((m) => m.backend === kind);
    if (models.length) groups.push({ key: kind, kind, label: kind, models, failed: null });
  }
  const external = list.models.filter((m) => m.backend === "openai");
  const names = [...(list.backends ?? []).map((b) => b.name), ...external.map(providerOf)];
  for (const name of [...new Set(names)]) {
    const backend = list.backends?.find((b) => b.name === name) ?? null;
    const models = external.filter((m) => providerOf(m) === name);
    const failed = backend?.state === "failed" ? backend : null;
    if (models.length || failed) groups.push({ key: `openai:${name}`, kind: "openai", label: name, models, failed });
  }
  return groups;
}

