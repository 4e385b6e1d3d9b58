"use client";

import { useCallback, useEffect, useState } from "react";

import type { ApiError } from "@/lib/errors";
import { apiJson } from "@/lib/request";
import type { SessionSummary } from "@/lib/types";

/** The past chats for the sidebar (/sessions), and deleting one. */
export function useSessionList(timeoutMs: number) {
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  const reload = useCallback(async () => {
    try {
      const body = await apiJson<{ sessions: SessionSummary[] }>("/sessions", { timeoutMs });
      setSessions(body.sessions);
      setError(null);
    } catch (err) {
      setError(err as ApiError);
    }
  }, [timeoutMs]);

  useEffect(() => {
    // Fetch on mount; state is set when the request ends, not synchronously.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void reload();
  }, [reload]);

  /** Delete a chat; false (and the error shown in the list) when that failed. The list reloads either way. */
  const remove = useCallback(
    async (id: string): Promise<boolean> => {
      let ok = true;
      try {
        await apiJson(`/sessions/${encodeURIComponent(id)}`, { method: "DELETE", timeoutMs });
      } catch (err) {
        setError(err as ApiError);
        ok = false;
      }
      void reload();
      return ok;
    },
    [timeoutMs, reload],
  );

  return { sessions, error, reload, remove };
}
