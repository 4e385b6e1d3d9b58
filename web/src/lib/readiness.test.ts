import { describe, expect, it } from "vitest";

import { summarizeReadiness } from "./readiness";

describe("summarizeReadiness", () => {
  it("reads the llm-api's /readyz answer with the worker's models", () => {
    const { overall, parts } = summarizeReadiness({
      status: "degraded",
      checks: {
        database: { status: "up", latency_ms: 1 },
        ollama: { status: "up", version: "0.12.6" },
        worker: { status: "loading", models: { omni: "loading", detector: "ready" }, error: "model-worker /readyz answered HTTP 503" },
      },
    });
    expect(overall).toBe("degraded");
    expect(parts.map((p) => p.name)).toEqual(["ollama", "worker", "database"]);
    expect(parts[0].state).toBe("ready");
    expect(parts[1].state).toBe("loading");
    expect(parts[1].detail).toContain("503");
    expect(parts[1].parts).toEqual([
      { name: "omni", state: "loading", detail: null, parts: [] },
      { name: "detector", state: "ready", detail: null, parts: [] },
    ]);
    expect(parts[2].state).toBe("ready");
  });

  it("understands object-shaped model states and failures", () => {
    const { parts } = summarizeReadiness({
      status: "unavailable",
      checks: {
        ollama: { status: "down", error: "Connection refused" },
        worker: { models: { omni: { state: "failed", error: "CUDA out of memory" }, detector: { state: "disabled" } } },
        database: { ok: true },
      },
    });
    expect(parts[0]).toMatchObject({ state: "down", detail: "Connection refused" });
    expect(parts[1].state).toBe("failed");
    expect(parts[1].parts[0]).toMatchObject({ name: "omni", state: "failed", detail: "CUDA out of memory" });
    expect(parts[1].parts[1].state).toBe("disabled");
    expect(parts[2].state).toBe("ready");
  });

  it("treats an unknown answer as unavailable", () => {
    expect(summarizeReadiness(null).overall).toBe("unavailable");
    expect(summarizeReadiness({ status: "weird" }).overall).toBe("unavailable");
    expect(summarizeReadiness({ status: "ready", checks: { x: 42 } }).parts[0].state).toBe("unknown");
  });
});
