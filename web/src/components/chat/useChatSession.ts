"use client";

import { useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useRef, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { fromStored, validSessionId, type ChatMessage } from "@/lib/chat";
import type { ApiError } from "@/lib/errors";
import { apiJson } from "@/lib/request";
import { readStored, SESSION_KEY, writeStored } from "@/lib/storage";
import type { SessionDetail } from "@/lib/types";

const chatUrl = (id: string) => `/chat?session=${encodeURIComponent(id)}`;

/**
 * The open chat: its id and messages. The session in the URL (`?session=`) is the one shown; with
 * none, the last one used (localStorage) is reopened once, so a chat survives reloads.
 * `stop` cancels an answer still streaming into the chat being left; `onLoaded` runs when one opens.
 */
export function useChatSession({ timeoutMs, stop, onLoaded }: { timeoutMs: number; stop: () => void; onLoaded: () => void }) {
  const { t } = useApp();
  const router = useRouter();
  const urlSession = validSessionId(useSearchParams().get("session"));
  const [sessionId, setSessionId] = useState<string | null>(null);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [loading, setLoading] = useState(false);
  const [notice, setNotice] = useState<ApiError | string | null>(null);
  /** The session being shown or loaded (ahead of `sessionId` while it loads). */
  const loadedRef = useRef<string | null>(null);
  const restoredRef = useRef(false);

  const reset = useCallback(() => {
    stop();
    loadedRef.current = null;
    setSessionId(null);
    setMessages([]);
    setLoading(false);
  }, [stop]);

  const failed = useCallback((id: string, err: ApiError) => {
    if (loadedRef.current !== id) return;
    loadedRef.current = null;
    setSessionId(null);
    if (err.code === "not_found") {
      writeStored(SESSION_KEY, null);
      setNotice(t("chat.session_missing"));
      router.replace("/chat", { scroll: false });
    } else {
      setNotice(err);
    }
  }, [router, t]);

  const open = useCallback((id: string) => {
    stop();
    loadedRef.current = id;
    setLoading(true);
    setMessages([]);
    setNotice(null);
    apiJson<SessionDetail>(`/sessions/${encodeURIComponent(id)}`, { timeoutMs })
      .then((detail) => {
        if (loadedRef.current !== id) return;
        setSessionId(id);
        setMessages(detail.messages.map(fromStored));
        writeStored(SESSION_KEY, id);
        onLoaded();
      })
      .catch((err: ApiError) => failed(id, err))
      .finally(() => {
        if (loadedRef.current === id || loadedRef.current === null) setLoading(false);
      });
  }, [stop, timeoutMs, onLoaded, failed]);

  useEffect(() => {
    if (urlSession === null) {
      if (!restoredRef.current) {
        restoredRef.current = true;
        const saved = validSessionId(readStored(SESSION_KEY));
        if (saved) {
          router.replace(`/chat?session=${saved}`, { scroll: false });
          return;
        }
      }
      if (loadedRef.current !== null) reset();
      return;
    }
    restoredRef.current = true;
    if (urlSession !== loadedRef.current) open(urlSession);
  }, [urlSession, router, reset, open]);

  /** A fresh, empty chat (the next answer creates its session). */
  const newChat = useCallback(() => {
    reset();
    setNotice(null);
    writeStored(SESSION_KEY, null);
    router.push("/chat", { scroll: false });
  }, [reset, router]);

  /** The first answer of a new chat was stored in session `id`: that chat now survives reloads. */
  const adopt = useCallback((id: string) => {
    loadedRef.current = id;
    setSessionId(id);
    writeStored(SESSION_KEY, id);
    router.replace(chatUrl(id), { scroll: false });
  }, [router]);

  /** Whether `id` is the chat shown (or being opened). */
  const isShown = useCallback((id: string) => id === sessionId || id === loadedRef.current, [sessionId]);

  return { sessionId, messages, setMessages, loading, notice, setNotice, newChat, adopt, isShown };
}

export type ChatSession = ReturnType<typeof useChatSession>;
