"use client";

import { useCallback, useState } from "react";

import type { ApiError } from "@/lib/errors";
import { timedUpload, type TimedResult, type UploadBody } from "@/lib/upload";

import { useInFlight } from "./useInFlight";

/**
 * A one-shot upload page (voice feedback, form detection): send a body to `path` with the model
 * timeout, keep the answer with the time waited, or the error; Cancel while it runs.
 */
export function useUpload<T>(path: string, timeoutMs: number) {
  const inFlight = useInFlight();
  const { begin, end } = inFlight;
  const [result, setResult] = useState<TimedResult<T> | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = useCallback(
    async (body: UploadBody) => {
      const request = begin(timeoutMs);
      if (!request) return;
      setError(null);
      setResult(null);
      try {
        setResult(await timedUpload<T>(path, body, request));
      } catch (err) {
        setError(err as ApiError);
      } finally {
        end(request);
      }
    },
    [path, timeoutMs, begin, end],
  );

  /** A new input: the old answer and error no longer apply. */
  const reset = useCallback(() => {
    setResult(null);
    setError(null);
  }, []);

  return { pending: inFlight.current, cancel: inFlight.cancel, submit, result, error, setError, reset };
}
