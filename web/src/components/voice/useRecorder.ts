"use client";

import { useCallback, useEffect, useRef, useState } from "react";

import { MAX_RECORDING_S, levelFromTimeDomain, micErrorKey, micPrecheck, pickRecordingType } from "@/lib/audio";
import type { MessageKey } from "@/lib/i18n";

export interface Recording {
  blob: Blob;
  mimeType: string;
  seconds: number;
}

export interface MicError {
  key: MessageKey;
  message: string;
}

/** Record from the microphone with MediaRecorder, with a live level (AnalyserNode) and a timer. */
export function useRecorder(onDone: (recording: Recording) => void) {
  const [recording, setRecording] = useState(false);
  const [starting, setStarting] = useState(false);
  const [level, setLevel] = useState(0);
  const [elapsed, setElapsed] = useState(0);
  const [error, setError] = useState<MicError | null>(null);
  const parts = useRef<{
    stream: MediaStream;
    recorder: MediaRecorder;
    context: AudioContext;
    frame: number;
    startedAt: number;
  } | null>(null);
  const onDoneRef = useRef(onDone);
  useEffect(() => {
    onDoneRef.current = onDone;
  }, [onDone]);

  const cleanup = useCallback(() => {
    const p = parts.current;
    if (!p) return;
    cancelAnimationFrame(p.frame);
    p.stream.getTracks().forEach((track) => track.stop());
    void p.context.close().catch(() => undefined);
    parts.current = null;
    setRecording(false);
    setLevel(0);
  }, []);

  const stop = useCallback(() => {
    const p = parts.current;
    if (p && p.recorder.state !== "inactive") p.recorder.stop();
  }, []);

  const start = useCallback(async () => {
    if (parts.current || starting) return;
    setError(null);
    const blocked = micPrecheck({
      secure: window.isSecureContext,
      getUserMedia: !!navigator.mediaDevices?.getUserMedia,
      mediaRecorder: typeof MediaRecorder !== "undefined",
    });
    if (blocked) {
      setError({ key: blocked, message: "" });
      return;
    }
    setStarting(true);
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    } catch (err) {
      setError({ key: micErrorKey(err), message: err instanceof Error ? err.message : String(err) });
      setStarting(false);
      return;
    }
    const mimeType = pickRecordingType((type) => MediaRecorder.isTypeSupported(type));
    const recorder = mimeType ? new MediaRecorder(stream, { mimeType }) : new MediaRecorder(stream);
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    const chunks: Blob[] = [];
    const startedAt = performance.now();
    recorder.ondataavailable = (event) => {
      if (event.data.size > 0) chunks.push(event.data);
    };
    recorder.onstop = () => {
      const seconds = (performance.now() - startedAt) / 1000;
      const type = recorder.mimeType || mimeType || "audio/webm";
      cleanup();
      if (chunks.length) onDoneRef.current({ blob: new Blob(chunks, { type }), mimeType: type, seconds });
    };
    const tick = () => {
      const p = parts.current;
      if (!p) return;
      analyser.getByteTimeDomainData(samples);
      setLevel(levelFromTimeDomain(samples));
      const seconds = (performance.now() - p.startedAt) / 1000;
      setElapsed(seconds);
      if (seconds >= MAX_RECORDING_S) stop();
      p.frame = requestAnimationFrame(tick);
    };
    parts.current = { stream, recorder, context, frame: 0, startedAt };
    recorder.start(250);
    setElapsed(0);
    setRecording(true);
    setStarting(false);
    parts.current.frame = requestAnimationFrame(tick);
  }, [cleanup, starting, stop]);

  // Leaving the page releases the microphone.
  useEffect(() => () => {
    const p = parts.current;
    if (p) {
      p.recorder.onstop = null;
      if (p.recorder.state !== "inactive") p.recorder.stop();
    }
    cleanup();
  }, [cleanup]);

  return { recording, starting, level, elapsed, error, start, stop, clearError: () => setError(null) };
}
