/** Numbers a person reads: durations, speeds, sizes. */

/** 850 → "850 ms", 1234 → "1.23 s", 75_000 → "1 min 15 s". null/NaN → "—". */
export function formatMs(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalS = Math.round(ms / 1000);
  const min = Math.floor(totalS / 60);
  const s = totalS % 60;
  return s ? `${min} min ${s} s` : `${min} min`;
}

/** A recording timer: 65.4 s → "01:05". */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const mm = String(Math.floor(s / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return `${mm}:${ss}`;
}

/** Tokens per second over the generation time (after the first token when that is known). */
export function tokensPerSecond(
  tokens: number | null | undefined,
  totalMs: number | null | undefined,
  firstTokenMs?: number | null,
): number | null {
  if (!tokens || tokens <= 0 || totalMs == null || !Number.isFinite(totalMs)) return null;
  let ms = totalMs;
  if (firstTokenMs != null && firstTokenMs < totalMs && tokens > 1) {
    // The first token arrives after the prompt is read; the rate is about the tokens after it.
    ms = totalMs - firstTokenMs;
    tokens -= 1;
  }
  if (ms <= 0) return null;
  return (tokens * 1000) / ms;
}

/** 12.345 → "12.3 tok/s"; null → "—". */
export function formatRate(rate: number | null | undefined): string {
  if (rate == null || !Number.isFinite(rate)) return "—";
  return `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)} tok/s`;
}

/** Bytes in binary units: 1536 → "1.5 KiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes) || bytes < 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 10 ? 0 : 1)} ${units[unit]}`;
}

/** Percent done of a pull, 0-100, or null when the total is not known yet. */
export function percent(completed: number | null | undefined, total: number | null | undefined): number | null {
  if (!total || total <= 0 || completed == null || completed < 0) return null;
  return Math.min(100, (completed / total) * 100);
}
