"use client";

import { useState } from "react";

import { useApp } from "@/components/AppProvider";

import { ModelPicker, ParamsPanel } from "./ModelPanel";
import type { useChatParams } from "./useChatParams";
import type { useModels } from "./useModels";

interface ToolbarProps {
  models: ReturnType<typeof useModels>;
  settings: ReturnType<typeof useChatParams>;
  busy: boolean;
  sidebarOpen: boolean;
  onToggleSidebar: () => void;
}

/** Above the chat: the phone's chats button, the model picker, and the answer settings (folded away). */
export function ChatToolbar({ models, settings, busy, sidebarOpen, onToggleSidebar }: ToolbarProps) {
  const { t } = useApp();
  const [paramsOpen, setParamsOpen] = useState(false);
  return (
    <>
      <div className="flex items-center gap-2 border-b border-slate-200 bg-white px-3 py-2 dark:border-slate-800 dark:bg-slate-900">
        <button
          type="button"
          className="btn-secondary px-2 md:hidden"
          aria-expanded={sidebarOpen}
          aria-label={t("chat.show_sessions")}
          title={t("chat.show_sessions")}
          onClick={onToggleSidebar}
        >
          <svg aria-hidden viewBox="0 0 20 20" className="h-5 w-5" fill="currentColor">
            <path d="M3 5a1 1 0 0 1 1-1h12a1 1 0 1 1 0 2H4a1 1 0 0 1-1-1Zm0 5a1 1 0 0 1 1-1h12a1 1 0 1 1 0 2H4a1 1 0 0 1-1-1Zm1 4a1 1 0 1 0 0 2h12a1 1 0 1 0 0-2H4Z" />
          </svg>
        </button>
        <ModelPicker models={models} disabled={busy} />
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
          <ParamsPanel params={settings.params} onChange={settings.setParams} system={settings.system} onSystemChange={settings.setSystem} />
        </div>
      )}
    </>
  );
}
