/**
 * Settings the browser needs, read by the server from its environment on every page request
 * (not baked in at build), so one image serves any deployment.
 */

export interface PublicSettings {
  /** Longest wait for a model call with no data arriving (first loads of big models are slow). */
  modelTimeoutMs: number;
  /** Timeout for small requests: status, lists, sessions. */
  statusTimeoutMs: number;
  /** How often the stack status is polled. */
  statusPollMs: number;
}

export const DEFAULT_SETTINGS: PublicSettings = {
  modelTimeoutMs: 600_000,
  statusTimeoutMs: 10_000,
  statusPollMs: 5_000,
};

function seconds(value: string | undefined, fallbackMs: number, minS: number): number {
  if (value == null || value.trim() === "") return fallbackMs;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < minS) return fallbackMs;
  return Math.round(parsed * 1000);
}

/** WEB_MODEL_TIMEOUT_S, WEB_STATUS_TIMEOUT_S, WEB_STATUS_POLL_S; invalid values fall back to defaults. */
export function readPublicSettings(env: Record<string, string | undefined>): PublicSettings {
  return {
    modelTimeoutMs: seconds(env.WEB_MODEL_TIMEOUT_S, DEFAULT_SETTINGS.modelTimeoutMs, 1),
    statusTimeoutMs: seconds(env.WEB_STATUS_TIMEOUT_S, DEFAULT_SETTINGS.statusTimeoutMs, 1),
    statusPollMs: seconds(env.WEB_STATUS_POLL_S, DEFAULT_SETTINGS.statusPollMs, 1),
  };
}
