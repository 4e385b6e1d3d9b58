"""One conversation on one WebSocket: the user's Ogg Opus in, 80 ms frames through the model, its voice and words
out, until the client leaves, goes quiet for `IDLE_TIMEOUT_S`, reaches `MAX_CONVERSATION_S`, or sends something
that is not the protocol (answered with an error message and a close code that says which)."""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import sphn
from aiohttp import WSMsgType, web

from . import protocol
from .engine import Engine, Slot

log = logging.getLogger("realtime_voice.conversation")

ENDING = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)


class Ended(Exception):
    """The conversation ends with this message to the client (if any) and this close code."""

    def __init__(self, code: int, message: str | None, reason: str):
        super().__init__(message or "")
        self.code = code
        self.message = message
        self.reason = reason  # metrics.REASONS


class Conversation:
    def __init__(self, ws: web.WebSocketResponse, slot: Slot, engine: Engine, peer: str):
        self.ws = ws
        self.slot = slot
        self.engine = engine
        self._released = False
        self.peer = peer
        self.frames_in = 0
        self.frames_out = 0
        self.reason = "client left"
        self.reason_code = "client_left"

    async def run(self) -> None:
        started = time.monotonic()
        try:
            await self._talk(started + self.engine.config.max_conversation_s)
        except Ended as end:
            self.reason, self.reason_code = end.message or "ended", end.reason
            if end.message and not self.ws.closed:
                await self.ws.send_bytes(protocol.error(end.message))
            self._release()  # before the close: a client that reconnects at once finds the slot free
            await self.ws.close(code=end.code, message=(end.message or "").encode()[:120])
        except (ConnectionResetError, asyncio.CancelledError):
            self.reason, self.reason_code = "connection lost", "connection_lost"
            raise
        finally:
            steps, step_s = self.slot.steps, self.slot.step_s
            self._release()
            self.engine.metrics.conversations.labels(self.reason_code).inc()
            log.info("conversation on slot %d for %s ended after %.1f s (%s): %d frames in, %d out, %.1f ms/frame",
                     self.slot.index, self.peer, time.monotonic() - started, self.reason, self.frames_in,
                     self.frames_out, 1000 * step_s / steps if steps else 0.0)

    async def _talk(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.engine.executor, self.slot.reset)
        reader = sphn.OpusStreamReader(self.engine.sample_rate)
        writer = sphn.OpusStreamWriter(self.engine.sample_rate)
        pending = np.zeros(0, dtype=np.float32)
        size = self.slot.frame_size
        await self.ws.send_bytes(protocol.handshake())
        log.info("conversation started on slot %d for %s", self.slot.index, self.peer)
        while (payload := await self._next_audio(deadline)) is not None:
            try:
                pcm = reader.append_bytes(payload)
            except ValueError as exc:
                raise Ended(protocol.CLOSE_INVALID_PAYLOAD, f"the audio is not Ogg Opus: {exc}",
                            "invalid_audio") from None
            if pcm.size:
                pending = np.concatenate((pending, pcm.astype(np.float32, copy=False)))
            while pending.size >= size:
                frame, pending = pending[:size], pending[size:]
                try:
                    replies = await loop.run_in_executor(self.engine.executor, self.slot.step, frame)
                except Exception:  # a model failure (e.g. CUDA out of memory): logged once, the client told
                    log.exception("the model failed on a frame of the conversation on slot %d", self.slot.index)
                    raise Ended(protocol.CLOSE_INTERNAL_ERROR, "the model failed on this audio; "
                                "the conversation ended (see the service's log)", "model_error") from None
                self.frames_in += 1
                for reply in replies:
                    await self._send_reply(writer, reply)

    def _release(self) -> None:
        """Give the slot back. Its state is wiped on the inference thread first (nothing of this conversation
        stays behind); the thread runs in order, so the next conversation's steps come after the wipe."""
        if not self._released:
            self._released = True
            try:
                self.engine.executor.submit(self.slot.reset)
            except RuntimeError:  # the inference thread has stopped: the service is shutting down
                log.info("slot %d not wiped: the service is shutting down", self.slot.index)
            self.engine.release(self.slot)

    async def _send_reply(self, writer, reply) -> None:
        ogg = writer.append_pcm(reply.pcm)
        if ogg:
            await self.ws.send_bytes(protocol.audio(ogg))
            self.frames_out += 1
            self.engine.metrics.frames.labels("out").inc()
        if reply.text:
            await self.ws.send_bytes(protocol.text(reply.text))

    async def _next_audio(self, deadline: float) -> bytes | None:
        """The next audio payload; None when the client closed. Raises `Ended` on a limit or a bad message."""
        idle = self.engine.config.idle_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Ended(protocol.CLOSE_NORMAL, "conversation time limit reached", "time_limit")
            try:
                msg = await self.ws.receive(timeout=min(idle, left))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise Ended(protocol.CLOSE_NORMAL, "conversation time limit reached", "time_limit") from None
                raise Ended(protocol.CLOSE_NORMAL, f"no audio for {idle:g} s: the conversation ended", "idle") from None
            if msg.type in ENDING:
                if self.ws.close_code == protocol.CLOSE_GOING_AWAY:
                    self.reason, self.reason_code = "server shutting down", "shutdown"
                return None
            if msg.type == WSMsgType.ERROR:  # e.g. a message over MAX_MESSAGE_KB: aiohttp closed with 1009
                self.reason, self.reason_code = f"protocol error: {self.ws.exception()}", "too_large"
                return None
            if msg.type == WSMsgType.TEXT:
                raise Ended(protocol.CLOSE_UNSUPPORTED, "only binary messages are part of the protocol",
                            "unsupported_message")
            data: bytes = msg.data
            if not data:
                continue
            if data[0] != protocol.AUDIO:
                raise Ended(protocol.CLOSE_UNSUPPORTED, f"unknown message kind {data[0]:#04x}", "unsupported_message")
            return data[1:]
