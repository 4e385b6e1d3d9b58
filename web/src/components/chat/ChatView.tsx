"use client";

import { useCallback, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { useInFlight } from "@/components/useInFlight";
import type { SessionSummary } from "@/lib/types";

import { ChatToolbar } from "./ChatToolbar";
import { ChatTranscript } from "./ChatTranscript";
import { Composer } from "./Composer";
import { SessionDrawer } from "./SessionDrawer";
import { SessionSidebar } from "./SessionSidebar";
import { useChatParams } from "./useChatParams";
import { useChatSession } from "./useChatSession";
import { useChatStream } from "./useChatStream";
import { useFollowScroll } from "./useFollowScroll";
import { useModels } from "./useModels";
import { useSessionList } from "./useSessionList";
import { useStackRefresh } from "./useStackRefresh";

export function ChatView() {
  const { t, settings } = useApp();
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const models = useModels(settings.statusTimeoutMs, settings.modelTimeoutMs);
  useStackRefresh(models.reload);
  const answerSettings = useChatParams();
  const list = useSessionList(settings.statusTimeoutMs);
  const scroll = useFollowScroll();
  const inFlight = useInFlight();
  const session = useChatSession({ timeoutMs: settings.statusTimeoutMs, stop: inFlight.cancel, onLoaded: scroll.follow });
  const { send, retry } = useChatStream({
    inFlight,
    timeoutMs: settings.modelTimeoutMs,
    session,
    model: models.selected || null,
    params: answerSettings.params,
    system: answerSettings.system,
    onSent: scroll.follow,
    onSettled: list.reload,
  });
  const busy = !!inFlight.current;

  const closeSidebar = useCallback(() => setSidebarOpen(false), []);
  const { newChat: resetToNew, isShown } = session;
  const newChat = useCallback(() => {
    resetToNew();
    closeSidebar();
  }, [resetToNew, closeSidebar]);

  const deleteSession = async (s: SessionSummary) => {
    const title = s.title?.trim() || t("chat.untitled");
    if (!window.confirm(t("chat.delete_confirm", { title }))) return;
    if ((await list.remove(s.id)) && isShown(s.id)) newChat();
  };

  const blocked = models.current?.state === "not_pulled" || !!models.pull?.name && !models.pull.done && !models.pull.error;

  return (
    <div className="relative flex min-h-0 flex-1">
      <SessionDrawer open={sidebarOpen} onClose={closeSidebar}>
        <SessionSidebar
          sessions={list.sessions}
          error={list.error}
          currentId={session.sessionId}
          onNew={newChat}
          onDelete={(s) => void deleteSession(s)}
          onRetry={() => void list.reload()}
          onNavigate={closeSidebar}
        />
      </SessionDrawer>

      <section aria-label={t("nav.chat")} className="flex min-w-0 flex-1 flex-col">
        <ChatToolbar models={models} settings={answerSettings} busy={busy} sidebarOpen={sidebarOpen} onToggleSidebar={() => setSidebarOpen((v) => !v)} />
        <ChatTranscript
          messages={session.messages}
          loading={session.loading}
          busy={busy}
          notice={session.notice}
          onDismissNotice={() => session.setNotice(null)}
          models={models}
          scroll={scroll}
          onRetry={retry}
        />
        <div className="border-t border-slate-200 bg-white px-3 py-3 dark:border-slate-800 dark:bg-slate-900 sm:px-6">
          <div className="mx-auto max-w-3xl">
            <Composer busy={busy} disabled={blocked || session.loading} onSend={send} onStop={inFlight.cancel} />
          </div>
        </div>
      </section>
    </div>
  );
}
