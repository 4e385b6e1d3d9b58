"use client";

import { useCallback, useRef, useState } from "react";

import { TimedRequest } from "@/lib/request";

/**
 * The one request a page part has in flight (an answer, an upload): at most one at a time, shown
 * while it runs, cancellable from anywhere (Stop, Cancel, switching chats).
 */
export function useInFlight() {
  const ref = useRef<TimedRequest | null>(null);
  const [current, setCurrent] = useState<TimedRequest | null>(null);

  /** A new request with `timeoutMs` of allowed silence, or null while another is still running. */
  const begin = useCallback((timeoutMs: number): TimedRequest | null => {
    if (ref.current) return null;
    const request = new TimedRequest(timeoutMs);
    ref.current = request;
    setCurrent(request);
    return request;
  }, []);

  const end = useCallback((request: TimedRequest) => {
    if (ref.current !== request) return;
    ref.current = null;
    setCurrent(null);
  }, []);

  const cancel = useCallback(() => ref.current?.cancel(), []);

  return { current, begin, end, cancel };
}

export type InFlight = ReturnType<typeof useInFlight>;
