"""A client of the Moshi WebSocket protocol, as Moshi's own clients speak it (moshi/client.py, the web client):
wait for the 0x00 handshake, send the microphone as Ogg Opus (0x01) in real time, read Ogg Opus (0x01), text (0x02)
and error (0x05) messages. Used by the protocol tests and the benchmark.

    result = converse(ws_url, tone(2.0))          # ws_url: ws://host:port/api/chat (or through the llm-api)
    result.handshake, result.audio_samples, result.text, result.errors, result.close_code
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import sphn

SAMPLE_RATE = 24000
FRAME = 1920  # 80 ms at 24 kHz


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    """A voice-like test signal: a tone with a slow amplitude envelope, float32 at 24 kHz."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t))).astype(np.float32)


def ogg_opus(pcm: np.ndarray) -> list[bytes]:
    """`pcm` as Ogg Opus, one chunk per 80 ms of audio (the first holds the OpusHead and OpusTags pages)."""
    writer = sphn.OpusStreamWriter(SAMPLE_RATE)
    chunks = [writer.append_pcm(pcm[i: i + FRAME]) for i in range(0, pcm.size, FRAME)]
    return [c for c in chunks if c]


@dataclass
class Result:
    handshake: bool = False
    handshake_s: float | None = None
    first_audio_s: float | None = None  # from the first audio sent to the first audio received
    first_text_s: float | None = None
    audio_messages: int = 0
    audio_samples: int = 0
    audio_bytes: bytes = b""
    text: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    other_kinds: list[int] = field(default_factory=list)
    close_code: int | None = None
    pcm: np.ndarray | None = None


async def converse_async(url: str, pcm: np.ndarray | None, *, realtime: bool = True, linger_s: float = 0.5,
                         headers: Mapping[str, str] | None = None, stop_after_s: float | None = None,
                         messages: list[bytes | str] | None = None, timeout_s: float = 60.0) -> Result:
    """One conversation. `pcm`: the user's audio (sent as Ogg Opus, at real time unless `realtime=False`);
    `messages`: raw messages sent instead (malformed-input tests); `stop_after_s`: the client leaves then."""
    result = Result()
    reader = sphn.OpusStreamReader(SAMPLE_RATE)
    decoded: list[np.ndarray] = []
    first_sent: list[float] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers, autoclose=True,
                                                                        max_msg_size=0) as ws:
        connected = time.perf_counter()

        async def receive() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                kind, payload = msg.data[0], msg.data[1:]
                now = time.perf_counter()
                if kind == 0x00:
                    result.handshake, result.handshake_s = True, now - connected
                elif kind == 0x01:
                    result.audio_messages += 1
                    result.audio_bytes += payload
                    if result.first_audio_s is None and first_sent:
                        result.first_audio_s = now - first_sent[0]
                    samples = reader.append_bytes(payload)
                    decoded.append(samples)
                    result.audio_samples += samples.size
                elif kind == 0x02:
                    if result.first_text_s is None and first_sent:
                        result.first_text_s = now - first_sent[0]
                    result.text.append(payload.decode("utf-8"))
                elif kind == 0x05:
                    result.errors.append(payload.decode("utf-8"))
                else:
                    result.other_kinds.append(kind)

        receiver = asyncio.create_task(receive())
        try:
            deadline = time.perf_counter() + timeout_s
            while not result.handshake and not receiver.done() and time.perf_counter() < deadline:
                await asyncio.sleep(0.005)
            if result.handshake:
                outgoing: list[bytes | str] = messages if messages is not None else \
                    [b"\x01" + chunk for chunk in ogg_opus(pcm if pcm is not None else tone(1.0))]
                started = time.perf_counter()
                for index, message in enumerate(outgoing):
                    if ws.closed or (stop_after_s is not None and time.perf_counter() - started >= stop_after_s):
                        break
                    if not first_sent:
                        first_sent.append(time.perf_counter())
                    if isinstance(message, str):
                        await ws.send_str(message)
                    else:
                        await ws.send_bytes(message)
                    if realtime:
                        await asyncio.sleep(max(0.0, started + (index + 1) * 0.08 - time.perf_counter()))
                if stop_after_s is None:  # listen on (until the server closes, at most `linger_s`)
                    await asyncio.wait({receiver}, timeout=linger_s)
            if not ws.closed:
                await ws.close()
            await asyncio.wait_for(receiver, timeout=timeout_s)
        finally:
            receiver.cancel()
        result.close_code = ws.close_code
    result.pcm = np.concatenate(decoded) if decoded else np.zeros(0, dtype=np.float32)
    return result


def converse(url: str, pcm: np.ndarray | None = None, **kwargs) -> Result:
    return asyncio.run(converse_async(url, pcm, **kwargs))
