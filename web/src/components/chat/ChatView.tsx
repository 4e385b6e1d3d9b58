"use client";

import { useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useRef, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import { useReadiness } from "@/components/ReadinessProvider";
import {
  DEFAULT_PARAMS,
  fromStored,
  parseParams,
  toOptions,
  validSessionId,
  type ChatMessage,
  type ChatParams,
} from "@/lib/chat";
import { ApiError } from "@/lib/errors";
import { apiJson, apiStream, TimedRequest } from "@/lib/request";
import type { AskEvent, AskRequest, SessionDetail, SessionSummary } from "@/lib/types";

import { Composer } from "./Composer";
import { MessageItem } from "./MessageItem";
import { ModelNotice, ModelPicker, ParamsPanel } from "./ModelPanel";
import { SessionSidebar } from "./SessionSidebar";
import { useModels } from "./useModels";

const SESSION_KEY = "chat.session";
const PARAMS_KEY = "chat.params";

function store(key: string, value: string | null) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Private mode: the URL still carries the session.
  }
}

function stored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

let keyCounter = 0;
const newKey = () => `m${Date.now().toString(36)}-${(keyCounter += 1)}`;

export function ChatView() {
  const { t, settings } = useApp();
  const router = useRouter();
  const searchParams = useSearchParams();
  const urlSession = validSessionId(searchParams.get("session"));

  const [sessionId, setSessionId] = useState<string | null>(null);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [loadingSession, setLoadingSession] = useState(false);
  const [notice, setNotice] = useState<ApiError | string | null>(null);
  const [busy, setBusy] = useState<TimedRequest | null>(null);
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  const [sessionsError, setSessionsError] = useState<ApiError | null>(null);
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const [paramsOpen, setParamsOpen] = useState(false);
  const [params, setParamsState] = useState<ChatParams>(DEFAULT_PARAMS);
  const [system, setSystem] = useState("");
  const models = useModels(settings.statusTimeoutMs, settings.modelTimeoutMs);

  // When the stack's state changes (a worker model finished loading, Ollama came back), refresh the model list.
  const readiness = useReadiness();
  const stackState = `${readiness.overall}:${readiness.parts.map((p) => `${p.name}=${p.state}`).join(",")}`;
  const reloadModels = models.reload;
  const seenState = useRef<string | null>(null);
  useEffect(() => {
    if (readiness.overall === "checking") return;
    if (seenState.current !== null && seenState.current !== stackState) void reloadModels();
    seenState.current = stackState;
  }, [readiness.overall, stackState, reloadModels]);

  const loadedRef = useRef<string | null>(null);
  const restoredRef = useRef(false);
  const busyRef = useRef<TimedRequest | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const stickToBottom = useRef(true);

  useEffect(() => {
    // Saved parameters live in localStorage, which the server render cannot read.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setParamsState(parseParams(stored(PARAMS_KEY)));
  }, []);

  const setParams = useCallback((next: ChatParams) => {
    setParamsState(next);
    store(PARAMS_KEY, JSON.stringify(next));
  }, []);

  const reloadSessions = useCallback(async () => {
    try {
      const body = await apiJson<{ sessions: SessionSummary[] }>("/sessions", { timeoutMs: settings.statusTimeoutMs });
      setSessions(body.sessions);
      setSessionsError(null);
    } catch (err) {
      setSessionsError(err as ApiError);
    }
  }, [settings.statusTimeoutMs]);

  useEffect(() => {
    // Fetch on mount; state is set when the request ends, not synchronously.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void reloadSessions();
  }, [reloadSessions]);

  const stopStream = useCallback(() => busyRef.current?.cancel(), []);

  const resetChat = useCallback(() => {
    stopStream();
    loadedRef.current = null;
    setSessionId(null);
    setMessages([]);
    setLoadingSession(false);
  }, [stopStream]);

  // The session in the URL is the one shown; with none, the last one used is reopened once.
  useEffect(() => {
    if (urlSession === null) {
      if (!restoredRef.current) {
        restoredRef.current = true;
        const saved = validSessionId(stored(SESSION_KEY));
        if (saved) {
          router.replace(`/chat?session=${saved}`, { scroll: false });
          return;
        }
      }
      if (loadedRef.current !== null) resetChat();
      return;
    }
    restoredRef.current = true;
    if (urlSession === loadedRef.current) return;
    stopStream();
    loadedRef.current = urlSession;
    setLoadingSession(true);
    setMessages([]);
    setNotice(null);
    apiJson<SessionDetail>(`/sessions/${encodeURIComponent(urlSession)}`, { timeoutMs: settings.statusTimeoutMs })
      .then((detail) => {
        if (loadedRef.current !== urlSession) return;
        setSessionId(urlSession);
        setMessages(detail.messages.map(fromStored));
        store(SESSION_KEY, urlSession);
        stickToBottom.current = true;
      })
      .catch((err: ApiError) => {
        if (loadedRef.current !== urlSession) return;
        loadedRef.current = null;
        setSessionId(null);
        if (err.code === "not_found") {
          store(SESSION_KEY, null);
          setNotice(t("chat.session_missing"));
          router.replace("/chat", { scroll: false });
        } else {
          setNotice(err);
        }
      })
      .finally(() => {
        if (loadedRef.current === urlSession || loadedRef.current === null) setLoadingSession(false);
      });
  }, [urlSession, router, resetChat, stopStream, settings.statusTimeoutMs, t]);

  const drawerClose = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!sidebarOpen) return;
    drawerClose.current?.focus();
    const onKey = (event: KeyboardEvent) => event.key === "Escape" && setSidebarOpen(false);
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [sidebarOpen]);

  // Follow the answer as it streams, unless the person scrolled up to read.
  useEffect(() => {
    const list = listRef.current?.parentElement;
    if (list && stickToBottom.current) list.scrollTop = list.scrollHeight;
  }, [messages]);

  const newChat = useCallback(() => {
    resetChat();
    setNotice(null);
    store(SESSION_KEY, null);
    setSidebarOpen(false);
    router.push("/chat", { scroll: false });
  }, [resetChat, router]);

  const send = useCallback(
    (raw: string): boolean => {
      const prompt = raw.trim();
      if (!prompt || busyRef.current) return false;
      const request = new TimedRequest(settings.modelTimeoutMs);
      busyRef.current = request;
      setBusy(request);
      setNotice(null);
      stickToBottom.current = true;
      const answerKey = newKey();
      const model = models.selected || null;
      setMessages((list) => [
        ...list,
        { key: newKey(), role: "user", content: prompt, model, status: "done", timings: null, client: null, error: null },
        {
          key: answerKey, role: "assistant", content: "", model, status: "streaming", timings: null,
          client: { firstTokenMs: null, totalMs: null, tokenCount: 0 }, error: null,
        },
      ]);
      const update = (patch: (m: ChatMessage) => Partial<ChatMessage>) =>
        setMessages((list) => list.map((m) => (m.key === answerKey ? { ...m, ...patch(m) } : m)));

      const body: AskRequest = { prompt, stream: true, options: toOptions(params) };
      if (model) body.model = model;
      if (sessionId) body.session_id = sessionId;
      if (system.trim()) body.system = system.trim();

      const started = performance.now();
      void (async () => {
        let firstTokenMs: number | null = null;
        let tokenCount = 0;
        let text = "";
        let newSession: string | null = null;
        try {
          let finished = false;
          for await (const event of apiStream<AskEvent>("/ask-llm", { json: body, request })) {
            if (event.type === "start") {
              newSession = event.session_id;
              update(() => ({ model: event.model }));
            } else if (event.type === "token") {
              firstTokenMs ??= performance.now() - started;
              tokenCount += 1;
              text += event.text;
              const client = { firstTokenMs, totalMs: null, tokenCount };
              update(() => ({ content: text, client }));
            } else if (event.type === "done") {
              finished = true;
              const client = { firstTokenMs, totalMs: performance.now() - started, tokenCount };
              update(() => ({ content: event.answer ?? text, status: "done", timings: event.timings, client }));
            }
          }
          if (!finished) throw new ApiError("stream_incomplete", "The answer ended before it was complete.");
          // The exchange is stored now: this chat is a saved session that survives reloads.
          if (newSession && newSession !== sessionId) {
            loadedRef.current = newSession;
            setSessionId(newSession);
            store(SESSION_KEY, newSession);
            router.replace(`/chat?session=${encodeURIComponent(newSession)}`, { scroll: false });
          }
        } catch (err) {
          const error = err as ApiError;
          const client = { firstTokenMs, totalMs: performance.now() - started, tokenCount };
          if (error.code === "cancelled") update(() => ({ status: "stopped", client }));
          else update(() => ({ status: "error", error, client }));
        } finally {
          busyRef.current = null;
          setBusy(null);
          void reloadSessions();
        }
      })();
      return true;
    },
    [models.selected, params, sessionId, system, settings.modelTimeoutMs, reloadSessions, router],
  );

  const retry = useCallback(
    (answerKey: string) => {
      const index = messages.findIndex((m) => m.key === answerKey);
      const question = index > 0 ? messages[index - 1] : null;
      if (!question || question.role !== "user") return;
      setMessages((list) => list.filter((_, i) => i !== index && i !== index - 1));
      send(question.content);
    },
    [messages, send],
  );

  const deleteSession = useCallback(
    async (session: SessionSummary) => {
      const title = session.title?.trim() || t("chat.untitled");
      if (!window.confirm(t("chat.delete_confirm", { title }))) return;
      try {
        await apiJson(`/sessions/${encodeURIComponent(session.id)}`, { method: "DELETE", timeoutMs: settings.statusTimeoutMs });
        if (session.id === sessionId || session.id === loadedRef.current) newChat();
      } catch (err) {
        setSessionsError(err as ApiError);
      }
      void reloadSessions();
    },
    [newChat, reloadSessions, sessionId, settings.statusTimeoutMs, t],
  );

  const blocked = models.current?.state === "not_pulled" || !!models.pull?.name && !models.pull.done && !models.pull.error;

  return (
    <div className="relative flex min-h-0 flex-1">
      {/* Past chats: a column on wide screens, a drawer on phones. */}
      <aside
        aria-label={t("chat.sessions")}
        className={`${sidebarOpen ? "fixed inset-y-0 left-0 z-30 flex w-72 shadow-2xl" : "hidden"} flex-col border-r border-slate-200 bg-slate-100 md:static md:z-auto md:flex md:w-72 md:shadow-none dark:border-slate-800 dark:bg-slate-900/60`}
      >
        <button
          ref={drawerClose}
          type="button"
          className="btn-ghost m-2 mb-0 self-end md:hidden"
          aria-label={t("chat.hide_sessions")}
          onClick={() => setSidebarOpen(false)}
        >
          ✕
        </button>
        <SessionSidebar
          sessions={sessions}
          error={sessionsError}
          currentId={sessionId}
          onNew={newChat}
          onDelete={(s) => void deleteSession(s)}
          onRetry={() => void reloadSessions()}
          onNavigate={() => setSidebarOpen(false)}
        />
      </aside>
      {sidebarOpen && (
        // A tap beside the drawer closes it (the drawer's own ✕ and Escape do the same for keyboards).
        <div aria-hidden className="fixed inset-0 z-20 bg-slate-900/40 md:hidden" onClick={() => setSidebarOpen(false)} />
      )}

      <section aria-label={t("nav.chat")} className="flex min-w-0 flex-1 flex-col">
        <div className="flex items-center gap-2 border-b border-slate-200 bg-white px-3 py-2 dark:border-slate-800 dark:bg-slate-900">
          <button
            type="button"
            className="btn-secondary px-2 md:hidden"
            aria-expanded={sidebarOpen}
            aria-label={t("chat.show_sessions")}
            title={t("chat.show_sessions")}
            onClick={() => setSidebarOpen((v) => !v)}
          >
            <svg aria-hidden viewBox="0 0 20 20" className="h-5 w-5" fill="currentColor">
              <path d="M3 5a1 1 0 0 1 1-1h12a1 1 0 1 1 0 2H4a1 1 0 0 1-1-1Zm0 5a1 1 0 0 1 1-1h12a1 1 0 1 1 0 2H4a1 1 0 0 1-1-1Zm1 4a1 1 0 1 0 0 2h12a1 1 0 1 0 0-2H4Z" />
            </svg>
          </button>
          <ModelPicker models={models} disabled={!!busy} />
          <button
            type="button"
            className="btn-secondary px-2 sm:ml-auto sm:px-3"
            aria-expanded={paramsOpen}
            aria-controls="chat-params"
            onClick={() => setParamsOpen((v) => !v)}
            data-testid="params-toggle"
          >
            <svg aria-hidden viewBox="0 0 20 20" className="h-4 w-4" fill="currentColor">
              <path d="M5 3a1 1 0 0 1 1 1v5.17a3 3 0 0 1 0 5.66V16a1 1 0 1 1-2 0v-1.17a3 3 0 0 1 0-5.66V4a1 1 0 0 1 1-1Zm10 0a1 1 0 0 1 1 1v1.17a3 3 0 0 1 0 5.66V16a1 1 0 1 1-2 0v-5.17a3 3 0 0 1 0-5.66V4a1 1 0 0 1 1-1Z" />
            </svg>
            <span className="sr-only sm:not-sr-only">{t("settings.show")}</span>
          </button>
        </div>
        {paramsOpen && (
          <div id="chat-params" className="border-b border-slate-200 bg-white px-4 py-3 dark:border-slate-800 dark:bg-slate-900">
            <h2 className="sr-only">{t("settings.title")}</h2>
            <ParamsPanel params={params} onChange={setParams} system={system} onSystemChange={setSystem} />
          </div>
        )}

        <div
          className="min-h-0 flex-1 overflow-y-auto px-3 py-4 sm:px-6"
          onScroll={(e) => {
            const el = e.currentTarget;
            stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
          }}
        >
          <div className="mx-auto max-w-3xl space-y-3">
            {notice && (typeof notice === "string" ? (
              <p role="status" className="rounded-xl border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950/50 dark:text-amber-100">
                {notice}
              </p>
            ) : (
              <ErrorNotice error={notice} onDismiss={() => setNotice(null)} />
            ))}
            <ModelNotice models={models} />
            {loadingSession && <p className="text-sm text-slate-600 dark:text-slate-400">{t("chat.loading_session")}</p>}
            {!loadingSession && messages.length === 0 && (
              <div className="py-12 text-center">
                <h1 className="text-2xl font-semibold">{t("chat.empty_title")}</h1>
                <p className="mx-auto mt-2 max-w-md text-slate-600 dark:text-slate-400">{t("chat.empty_body")}</p>
              </div>
            )}
            <ol ref={listRef} className="space-y-4" aria-busy={!!busy} data-testid="message-list">
              {messages.map((m) => (
                <MessageItem key={m.key} message={m} onRetry={m.status === "error" ? () => retry(m.key) : undefined} />
              ))}
            </ol>
          </div>
        </div>

        <div className="border-t border-slate-200 bg-white px-3 py-3 dark:border-slate-800 dark:bg-slate-900 sm:px-6">
          <div className="mx-auto max-w-3xl">
            <Composer busy={!!busy} disabled={blocked || loadingSession} onSend={send} onStop={stopStream} />
          </div>
        </div>
      </section>
    </div>
  );
}
