"use client";

import { useCallback } from "react";

import type { InFlight } from "@/components/useInFlight";
import { askRequest, newExchange, streamAnswer, type AnswerPatch } from "@/lib/answer";
import type { ChatParams } from "@/lib/chat";

import type { ChatSession } from "./useChatSession";

interface StreamOptions {
  /** The one answer in flight (Stop cancels it). */
  inFlight: InFlight;
  timeoutMs: number;
  session: ChatSession;
  model: string | null;
  params: ChatParams;
  system: string;
  /** A question was sent (the view follows the answer). */
  onSent: () => void;
  /** The answer ended, however it ended (the chat list may have changed). */
  onSettled: () => void;
}

/** Ask a question and stream its answer into the chat; retry an answer that failed. */
export function useChatStream({ inFlight, timeoutMs, session, model, params, system, onSent, onSettled }: StreamOptions) {
  const { begin, end } = inFlight;
  const { sessionId, messages, setMessages, setNotice, adopt } = session;

  const send = useCallback(
    (raw: string): boolean => {
      const prompt = raw.trim();
      if (!prompt) return false;
      const request = begin(timeoutMs);
      if (!request) return false;
      setNotice(null);
      onSent();
      const [question, answer] = newExchange(prompt, model);
      setMessages((list) => [...list, question, answer]);
      const update = (patch: AnswerPatch) =>
        setMessages((list) => list.map((m) => (m.key === answer.key ? { ...m, ...patch } : m)));
      const body = askRequest({ prompt, model, params, sessionId, system });
      void streamAnswer(body, request, update).then((done) => {
        if (done?.session && done.session !== sessionId) adopt(done.session);
        end(request);
        onSettled();
      });
      return true;
    },
    [begin, end, timeoutMs, model, params, sessionId, system, setMessages, setNotice, adopt, onSent, onSettled],
  );

  /** Ask a failed answer's question again, in place of the pair. */
  const retry = useCallback(
    (answerKey: string) => {
      const index = messages.findIndex((m) => m.key === answerKey);
      const question = index > 0 ? messages[index - 1] : null;
      if (!question || question.role !== "user") return;
      setMessages((list) => list.filter((_, i) => i !== index && i !== index - 1));
      send(question.content);
    },
    [messages, setMessages, send],
  );

  return { send, retry };
}
