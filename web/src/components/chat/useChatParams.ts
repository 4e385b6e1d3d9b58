"use client";

import { useCallback, useEffect, useState } from "react";

import { DEFAULT_PARAMS, parseParams, type ChatParams } from "@/lib/chat";
import { PARAMS_KEY, readStored, writeStored } from "@/lib/storage";

/** The answer settings: temperature / top P / max tokens (remembered) and the system prompt (this page only). */
export function useChatParams() {
  const [params, setParamsState] = useState<ChatParams>(DEFAULT_PARAMS);
  const [system, setSystem] = useState("");

  useEffect(() => {
    // Saved parameters live in localStorage, which the server render cannot read.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setParamsState(parseParams(readStored(PARAMS_KEY)));
  }, []);

  const setParams = useCallback((next: ChatParams) => {
    setParamsState(next);
    writeStored(PARAMS_KEY, JSON.stringify(next));
  }, []);

  return { params, setParams, system, setSystem };
}
