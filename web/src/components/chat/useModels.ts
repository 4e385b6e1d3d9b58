"use client";

import { useCallback, useEffect, useRef, useState } from "react";

import { ApiError } from "@/lib/errors";
import { apiJson, apiStream, TimedRequest } from "@/lib/request";
import type { ModelList, PullEvent } from "@/lib/types";

const MODEL_KEY = "chat.model";

export interface PullState {
  name: string;
  status: string;
  completed: number | null;
  total: number | null;
  done: boolean;
  error: ApiError | null;
}

function savedModel(): string | null {
  try {
    return localStorage.getItem(MODEL_KEY);
  } catch {
    return null;
  }
}

/** The model list from /models, the chosen model (remembered), and pulling a model with progress. */
export function useModels(listTimeoutMs: number, pullTimeoutMs: number) {
  const [list, setList] = useState<ModelList | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [selected, setSelectedState] = useState("");
  const [pull, setPull] = useState<PullState | null>(null);
  const pullRequest = useRef<TimedRequest | null>(null);

  const reload = useCallback(async () => {
    try {
      const next = await apiJson<ModelList>("/models", { timeoutMs: listTimeoutMs });
      setList(next);
      setError(null);
      setSelectedState((current) => {
        const has = (name: string | null) => !!name && next.models.some((m) => m.name === name);
        if (has(current)) return current;
        const saved = savedModel();
        return has(saved) ? (saved as string) : next.default;
      });
    } catch (err) {
      setError(err as ApiError);
    }
  }, [listTimeoutMs]);

  useEffect(() => {
    void reload();
  }, [reload]);

  const setSelected = useCallback((name: string) => {
    setSelectedState(name);
    try {
      localStorage.setItem(MODEL_KEY, name);
    } catch {
      // Not remembered in private mode; still used for this page.
    }
  }, []);

  const startPull = useCallback(
    async (name: string) => {
      if (pullRequest.current) return;
      const request = new TimedRequest(pullTimeoutMs);
      pullRequest.current = request;
      setPull({ name, status: "", completed: null, total: null, done: false, error: null });
      try {
        for await (const event of apiStream<PullEvent>("/models/pull", { json: { name }, request })) {
          if (event.type === "progress") {
            // Status-only lines ("verifying sha256 digest") keep the last byte counts on screen.
            const counted = event.total != null;
            setPull((p) => p && {
              ...p,
              status: event.status,
              completed: counted ? (event.completed ?? 0) : p.completed,
              total: counted ? event.total ?? null : p.total,
            });
          } else if (event.type === "done") {
            setPull((p) => p && { ...p, done: true, completed: p.total ?? p.completed });
          }
        }
        await reload();
      } catch (err) {
        setPull((p) => p && { ...p, error: err as ApiError });
      } finally {
        pullRequest.current = null;
      }
    },
    [pullTimeoutMs, reload],
  );

  const cancelPull = useCallback(() => pullRequest.current?.cancel(), []);
  const clearPull = useCallback(() => setPull(null), []);

  const current = list?.models.find((m) => m.name === selected) ?? null;
  return { list, error, selected, setSelected, current, reload, pull, startPull, cancelPull, clearPull };
}
