"use client";

import { useEffect, useRef } from "react";

import { useReadiness } from "@/components/ReadinessProvider";

/** Calls `refresh` when the stack's state changes (a worker model finished loading, Ollama came back). */
export function useStackRefresh(refresh: () => unknown) {
  const readiness = useReadiness();
  const stackState = `${readiness.overall}:${readiness.parts.map((p) => `${p.name}=${p.state}`).join(",")}`;
  const seenState = useRef<string | null>(null);
  useEffect(() => {
    if (readiness.overall === "checking") return;
    if (seenState.current !== null && seenState.current !== stackState) void refresh();
    seenState.current = stackState;
  }, [readiness.overall, stackState, refresh]);
}
