"use client";

import { useCallback, useEffect, useRef, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { explainWithStatus, type Problem, type ServiceStatus } from "@/lib/talk/protocol";
import type { Unavailable } from "@/lib/talk/transcribe";
import { addModelText, addUserSpeech, trimTurns, type Turn } from "@/lib/talk/transcript";

import { browserSupport, TalkSession, type Phase, type Stats } from "./talkSession";
import { TurnTranscriber } from "./turnTranscriber";

const EMPTY_STATS: Stats = {
  elapsedMs: 0, micRms: 0, modelRms: 0, latencyMs: null, textLatencyMs: null, playedMs: 0, underruns: 0, pagesSent: 0,
};
const STATS_EVERY_MS = 100;

export interface TalkProblem {
  problem: Problem;
  message: string | null;
}

/**
 * The Talk page's conversation as React state: phase, live stats (sampled 10 times a second), the turns
 * (the person's with their words, once transcribed), why their words are not transcribed when they are not,
 * and what went wrong, explained with the service status when the close alone does not say.
 */
export function useTalk(refreshStatus: () => Promise<ServiceStatus>) {
  const { locale } = useApp();
  const [phase, setPhase] = useState<Phase>("idle");
  const [stats, setStats] = useState<Stats>(EMPTY_STATS);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [problem, setProblem] = useState<TalkProblem | null>(null);
  const [wordsOff, setWordsOff] = useState<Unavailable | null>(null);
  const session = useRef<TalkSession | null>(null);
  const transcriber = useRef<TurnTranscriber | null>(null);
  const refresh = useRef(refreshStatus);
  const language = useRef(locale);
  useEffect(() => {
    refresh.current = refreshStatus;
  }, [refreshStatus]);
  useEffect(() => {
    language.current = locale;
  }, [locale]);

  const checking = useRef(false);

  const start = useCallback(async () => {
    if (session.current || checking.current) return;
    setProblem(null);
    checking.current = true;
    const support = await browserSupport().finally(() => (checking.current = false));
    if (support.problem || !support.encoder) {
      setProblem({ problem: support.problem ?? "no_webcodecs", message: null });
      return;
    }
    setTurns([]);
    setStats(EMPTY_STATS);
    setWordsOff(null);
    const words: TurnTranscriber = new TurnTranscriber({
      turns: (change) => {
        if (transcriber.current === words) setTurns((t) => change(t));
      },
      unavailable: (reason) => {
        if (transcriber.current === words) setWordsOff(reason);
      },
    }, () => language.current);
    // The previous conversation's words still on their way belong to turns no longer shown.
    const previous = transcriber.current;
    transcriber.current = words;
    previous?.close();
    const current = new TalkSession({
      phase: (next) => {
        if (session.current !== current) return;
        setPhase(next);
        if (next === "live") void refresh.current(); // the status line then counts this conversation
      },
      text: (piece, atMs) => setTurns((t) => trimTurns(addModelText(t, piece, atMs))),
      speech: (event) => setTurns((t) => trimTurns(addUserSpeech(t, event))),
      userAudio: (piece) => words.add(piece),
      ended: (end) => {
        if (session.current === current) session.current = null;
        setStats(current.snapshot());
        setPhase("idle");
        if (!end.problem) return;
        const problemNow = end.problem;
        setProblem({ problem: problemNow, message: end.message });
        if (!end.checkStatus) return;
        void refresh.current().then((status) =>
          setProblem((p) => (p && p.problem === problemNow ? { ...p, problem: explainWithStatus(problemNow, end.handshaken, status) } : p)),
        );
      },
    }, support.encoder);
    session.current = current;
    await current.start();
  }, []);

  const stop = useCallback(() => session.current?.stop(), []);

  // Live numbers while a conversation runs.
  useEffect(() => {
    if (phase === "idle") return;
    const timer = setInterval(() => {
      if (session.current) setStats(session.current.snapshot());
    }, STATS_EVERY_MS);
    return () => clearInterval(timer);
  }, [phase]);

  // Leaving the page ends the conversation and releases the microphone; words on their way are not waited for.
  useEffect(() => () => {
    session.current?.stop();
    transcriber.current?.close();
  }, []);

  return { phase, stats, turns, wordsOff, problem, start, stop, clearProblem: () => setProblem(null) };
}
