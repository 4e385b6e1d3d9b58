import { describe, expect, it } from "vitest";

import { groupModels } from "./models";
import type { ModelInfo, ModelList } from "./types";

const model = (name: string, backend: ModelInfo["backend"], extra: Partial<ModelInfo> = {}): ModelInfo => ({
  name,
  backend,
  size_bytes: null,
  capabilities: ["chat"],
  state: "ready",
  ...extra,
});

describe("groupModels", () => {
  it("is empty before the list arrives", () => {
    expect(groupModels(null)).toEqual([]);
  });

  it("orders Ollama, the worker, then each backend as configured, and leaves out empty groups", () => {
    const list: ModelList = {
      default: "gemma",
      models: [
        model("vllm/qwen", "openai", { provider: "vllm" }),
        model("omni", "worker"),
        model("gemini/flash", "openai", { provider: "gemini" }),
        model("gemma", "ollama"),
        model("gemini/pro", "openai", { provider: "gemini" }),
      ],
      backends: [
        { name: "gemini", kind: "openai", state: "ready", reason: null },
        { name: "vllm", kind: "openai", state: "ready", reason: null },
        { name: "empty", kind: "openai", state: "ready", reason: null },
      ],
    };
    const groups = groupModels(list);
    expect(groups.map((g) => [g.kind, g.label, g.models.map((m) => m.name)])).toEqual([
      ["ollama", "ollama", ["gemma"]],
      ["worker", "worker", ["omni"]],
      ["openai", "gemini", ["gemini/flash", "gemini/pro"]],
      ["openai", "vllm", ["vllm/qwen"]],
    ]);
  });

  it("keeps a failed backend visible with its reason, even with no model to list", () => {
    const list: ModelList = {
      default: "gemma",
      models: [model("gemma", "ollama")],
      backends: [{ name: "gemini", kind: "openai", state: "failed", reason: "401 from the backend" }],
    };
    const [, gemini] = groupModels(list);
    expect(gemini).toMatchObject({ kind: "openai", label: "gemini", models: [], failed: { reason: "401 from the backend" } });
  });

  it("groups a backend's models by their name's prefix when the list has no backends field", () => {
    const groups = groupModels({ default: "a/x", models: [model("a/x", "openai"), model("b/y", "openai")] });
    expect(groups.map((g) => g.label)).toEqual(["a", "b"]);
  });
});
