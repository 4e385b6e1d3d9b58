"use client";

import { useEffect, useRef, type ReactNode } from "react";

import { useApp } from "@/components/AppProvider";

/**
 * Past chats: a column on wide screens, a drawer on phones (`open`). The drawer takes focus and
 * closes with its ✕, Escape, or a tap beside it.
 */
export function SessionDrawer({ open, onClose, children }: { open: boolean; onClose: () => void; children: ReactNode }) {
  const { t } = useApp();
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!open) return;
    closeRef.current?.focus();
    const onKey = (event: KeyboardEvent) => event.key === "Escape" && onClose();
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open, onClose]);

  return (
    <>
      <aside
        aria-label={t("chat.sessions")}
        className={`${open ? "fixed inset-y-0 left-0 z-30 flex w-72 shadow-2xl" : "hidden"} flex-col border-r border-slate-200 bg-slate-100 md:static md:z-auto md:flex md:w-72 md:shadow-none dark:border-slate-800 dark:bg-slate-900/60`}
      >
        <button ref={closeRef} type="button" className="btn-ghost m-2 mb-0 self-end md:hidden" aria-label={t("chat.hide_sessions")} onClick={onClose}>
          ✕
        </button>
        {children}
      </aside>
      {open && (
        // A tap beside the drawer closes it (the drawer's own ✕ and Escape do the same for keyboards).
        <div aria-hidden className="fixed inset-0 z-20 bg-slate-900/40 md:hidden" onClick={onClose} />
      )}
    </>
  );
}
