"use client";

import { useCallback, useRef, type UIEvent } from "react";

/**
 * Follow an answer as it streams, unless the person scrolled up to read. `listRef` goes on the
 * list inside the scrolling element, `onScroll` and `data-follow-scroll` on that element; `keepUp` runs after each change.
 */
export function useFollowScroll() {
  const listRef = useRef<HTMLOListElement>(null);
  const stickRef = useRef(true);

  /** Jump to the end from now on (a question was sent, a chat was opened). */
  const follow = useCallback(() => {
    stickRef.current = true;
  }, []);

  const onScroll = useCallback((e: UIEvent<HTMLElement>) => {
    const el = e.currentTarget;
    stickRef.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }, []);

  const keepUp = useCallback(() => {
    // The scrolling element is an ancestor of the list (which sits in a centred column inside it).
    const scroller = listRef.current?.closest<HTMLElement>("[data-follow-scroll]");
    if (scroller && stickRef.current) scroller.scrollTop = scroller.scrollHeight;
  }, []);

  return { listRef, follow, onScroll, keepUp };
}

export type FollowScroll = ReturnType<typeof useFollowScroll>;
