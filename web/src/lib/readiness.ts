/** The llm-api's /readyz answer, turned into what the status indicator shows. */

export type Overall = "checking" | "ready" | "degraded" | "unavailable" | "unreachable";
export type PartState = "ready" | "loading" | "failed" | "disabled" | "down" | "unknown";

export interface Part {
  /** "ollama", "worker", "database", or a worker model such as "omni". */
  name: string;
  state: PartState;
  detail: string | null;
  parts: Part[];
}

const STATE_WORDS: Record<string, PartState> = {
  ok: "ready",
  up: "ready",
  ready: "ready",
  healthy: "ready",
  loaded: "ready",
  loading: "loading",
  starting: "loading",
  pending: "loading",
  failed: "failed",
  error: "failed",
  disabled: "disabled",
  down: "down",
  unavailable: "down",
  unreachable: "down",
  degraded: "loading",
};

function stateOf(value: Record<string, unknown>): PartState {
  for (const key of ["state", "status"]) {
    const word = value[key];
    if (typeof word === "string" && STATE_WORDS[word.toLowerCase()]) return STATE_WORDS[word.toLowerCase()];
  }
  if (typeof value.ok === "boolean") return value.ok ? "ready" : "down";
  if (typeof value.up === "boolean") return value.up ? "ready" : "down";
  return "unknown";
}

function detailOf(value: Record<string, unknown>): string | null {
  for (const key of ["error", "message", "detail", "reason"]) {
    const text = value[key];
    if (typeof text === "string" && text.trim()) return text.trim();
  }
  return null;
}

function partOf(name: string, raw: unknown): Part {
  if (typeof raw === "string") return { name, state: STATE_WORDS[raw.toLowerCase()] ?? "unknown", detail: null, parts: [] };
  if (typeof raw === "boolean") return { name, state: raw ? "ready" : "down", detail: null, parts: [] };
  if (!raw || typeof raw !== "object") return { name, state: "unknown", detail: null, parts: [] };
  const value = raw as Record<string, unknown>;
  const models = value.models;
  const parts =
    models && typeof models === "object" && !Array.isArray(models)
      ? Object.entries(models as Record<string, unknown>).map(([model, info]) => partOf(model, info))
      : [];
  let state = stateOf(value);
  if (state === "unknown" && parts.length) {
    state = parts.every((p) => p.state === "ready" || p.state === "disabled")
      ? "ready"
      : parts.some((p) => p.state === "loading") ? "loading" : "failed";
  }
  return { name, state, detail: detailOf(value), parts };
}

/** Overall state and one entry per check, from the /readyz body (any status code). */
export function summarizeReadiness(body: unknown): { overall: Overall; parts: Part[] } {
  const value = (body ?? {}) as { status?: unknown; checks?: unknown };
  const checks = value.checks && typeof value.checks === "object" ? (value.checks as Record<string, unknown>) : {};
  const order = ["ollama", "worker", "database"];
  const names = [...order.filter((n) => n in checks), ...Object.keys(checks).filter((n) => !order.includes(n))];
  const parts = names.map((name) => partOf(name, checks[name]));
  const status = typeof value.status === "string" ? value.status : "";
  const overall: Overall =
    status === "ready" || status === "degraded" || status === "unavailable" ? status : "unavailable";
  return { overall, parts };
}
