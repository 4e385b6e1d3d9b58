"use client";

import { useCallback, useEffect, useRef, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { UNREACHABLE_HEADER } from "@/lib/errors";
import { parseStatus, STATUS_PATH, type ServiceStatus } from "@/lib/talk/protocol";

/** GET /api/realtime/status on mount and on demand (after a refused or dropped conversation). */
export function useRealtimeStatus() {
  const { settings } = useApp();
  const [status, setStatus] = useState<ServiceStatus | null>(null);
  const [checking, setChecking] = useState(true);
  const latest = useRef(0);

  const refresh = useCallback(async (): Promise<ServiceStatus> => {
    const call = ++latest.current;
    setChecking(true);
    let result: ServiceStatus;
    try {
      const res = await fetch(`/api${STATUS_PATH}`, { cache: "no-store", signal: AbortSignal.timeout(settings.statusTimeoutMs) });
      const body: unknown = await res.json().catch(() => null);
      result = parseStatus(res.status, body, res.headers.has(UNREACHABLE_HEADER));
    } catch {
      result = parseStatus(0, null);
    }
    if (call === latest.current) {
      setStatus(result);
      setChecking(false);
    }
    return result;
  }, [settings.statusTimeoutMs]);

  useEffect(() => {
    // The first check, when the page opens.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void refresh();
  }, [refresh]);

  return { status, checking, refresh };
}
