"use client";

import { createContext, useContext, useEffect, useState } from "react";

import { summarizeReadiness, type Overall, type Part } from "@/lib/readiness";
import { API_BASE, TimedRequest } from "@/lib/request";

import { useApp } from "./AppProvider";

export interface ReadinessState {
  overall: Overall;
  parts: Part[];
  /** Why the llm-api could not be asked (when overall is "unreachable"). */
  message: string | null;
  checkedAt: Date | null;
}

const INITIAL: ReadinessState = { overall: "checking", parts: [], message: null, checkedAt: null };
const ReadinessContext = createContext<ReadinessState>(INITIAL);

async function check(timeoutMs: number): Promise<ReadinessState> {
  const request = new TimedRequest(timeoutMs);
  try {
    const res = await fetch(`${API_BASE}/readyz`, { signal: request.signal, cache: "no-store" });
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (!body || body.error) {
      return { ...INITIAL, overall: "unreachable", message: body?.error?.message ?? `HTTP ${res.status}`, checkedAt: new Date() };
    }
    return { ...summarizeReadiness(body), message: null, checkedAt: new Date() };
  } catch (err) {
    const message = request.reason === "timeout" ? "timeout" : err instanceof Error ? err.message : String(err);
    return { ...INITIAL, overall: "unreachable", message, checkedAt: new Date() };
  } finally {
    request.finish();
  }
}

/** Polls /readyz while the page is visible and shares the answer with every component. */
export function ReadinessProvider({ children }: { children: React.ReactNode }) {
  const { settings } = useApp();
  const [state, setState] = useState<ReadinessState>(INITIAL);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const run = async () => {
      if (document.visibilityState !== "hidden") {
        const next = await check(settings.statusTimeoutMs);
        if (stopped) return;
        setState(next);
      }
      timer = setTimeout(run, settings.statusPollMs);
    };
    const onVisible = () => {
      if (document.visibilityState === "visible" && timer) {
        clearTimeout(timer);
        void run();
      }
    };
    void run();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [settings.statusPollMs, settings.statusTimeoutMs]);

  return <ReadinessContext.Provider value={state}>{children}</ReadinessContext.Provider>;
}

export function useReadiness(): ReadinessState {
  return useContext(ReadinessContext);
}
