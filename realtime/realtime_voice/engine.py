"""The model and its conversation slots.

`Engine.start()` loads the checkpoint in a background thread (the service answers `/healthz` meanwhile, with the
phase it is in). Each slot is one conversation's streaming state: `moshi` keeps a stream's state (KV caches, conv
buffers, the delayed tokens) inside its modules, so a slot owns its own module objects; all slots share one copy
of the weights (`_sharing_weights`). Every model step of every slot runs on one inference thread, in order, so
CUDA graphs and the sampling generator are never used by two threads at once.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .checkpoint import checkpoint_dir, checkpoint_info
from .config import Config
from .metrics import Metrics

log = logging.getLogger("realtime_voice.engine")

LOADING, READY, FAILED = "loading", "ready", "error"
# Text tokens that are not words: 0 is the end-of-padding marker and 3 the padding token of Moshi's text stream.
SILENT_TEXT_TOKENS = (0, 3)


@dataclass
class Reply:
    """What the model produced for one 80 ms frame: its voice, and the piece of text it is saying (or None)."""

    pcm: np.ndarray
    text: str | None


def _sharing_weights(module):
    """A copy of `module` with its own streaming state but the same parameter and buffer tensors."""
    memo = {id(t): t for t in list(module.parameters()) + list(module.buffers())}
    return copy.deepcopy(module, memo)


class Slot:
    """One conversation's Mimi + LMGen streaming state. Its methods run on the engine's inference thread."""

    def __init__(self, index: int, mimi, lm_gen, tokenizer, device, seed: int | None):
        self.index = index
        self.metrics: Metrics | None = None  # set once the slot serves (warm-up frames are not counted)
        self.mimi = mimi
        self.lm_gen = lm_gen
        self.tokenizer = tokenizer
        self.device = device
        self.seed = seed
        self.frame_size = int(mimi.sample_rate / mimi.frame_rate)
        self._skip_frames = 1
        self.steps = 0
        self.step_s = 0.0

    def reset(self) -> None:
        """A fresh conversation: every streaming state back to its start."""
        import torch

        self.mimi.reset_streaming()
        self.lm_gen.reset_streaming()
        self._skip_frames = 1
        self.steps, self.step_s = 0, 0.0
        if self.seed is not None:
            torch.manual_seed(self.seed)

    def step(self, frame: np.ndarray) -> list[Reply]:
        """One 80 ms frame of the user's voice in (float32, `frame_size` samples): Mimi encode, LM step, Mimi decode."""
        import torch

        started = time.perf_counter()
        replies: list[Reply] = []
        with torch.no_grad():
            chunk = torch.from_numpy(frame).to(device=self.device)[None, None]
            codes = self.mimi.encode(chunk)
            if self._skip_frames:
                # As moshi.server does: the first frame is in the model's past; encoding it again with fresh
                # encoder state re-applies the left padding the first real frame needs.
                self.mimi.reset_streaming()
                self._skip_frames -= 1
            for c in range(codes.shape[-1]):
                tokens = self.lm_gen.step(codes[:, :, c: c + 1])
                if tokens is None:
                    continue
                pcm = self.mimi.decode(tokens[:, 1:]).float().cpu().numpy()[0, 0]
                replies.append(Reply(pcm=pcm, text=self._piece(int(tokens[0, 0, 0].item()))))
        elapsed = time.perf_counter() - started
        self.steps += 1
        self.step_s += elapsed
        if self.metrics is not None:
            self.metrics.step.observe(elapsed)
            self.metrics.frames.labels("in").inc()
        return replies

    def _piece(self, token: int) -> str | None:
        tokenizer = self.tokenizer
        if token in SILENT_TEXT_TOKENS or not 0 <= token < tokenizer.vocab_size():
            return None
        if tokenizer.is_control(token) or tokenizer.is_unknown(token):  # <s>, </s>, <unk>: not words
            return None
        return tokenizer.id_to_piece(token).replace("\u2581", " ")


@dataclass
class EngineStatus:
    state: str = LOADING
    progress: str = "starting"
    error: str | None = None
    conversations_total: int = 0
    refused_total: int = 0
    loaded_s: float | None = None
    extra: dict = field(default_factory=dict)


class Engine:
    def __init__(self, config: Config, models: Callable[[], tuple] | None = None):
        """`models` returns (mimi, lm, text tokenizer) instead of loading the configured checkpoint (the benchmark
        builds a real-size random-weight Moshi on the GPU with it)."""
        self.config = config
        self._models = models or self._checkpoint_models
        self.metrics = Metrics()
        self.status = EngineStatus()
        self.sample_rate = 24000
        self.frame_ms = 80
        self._slots: list[Slot] = []
        self._free: list[Slot] = []
        self._lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moshi-step")
        self._thread: threading.Thread | None = None

    # -- loading -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._load_logged, name="moshi-load", daemon=True)
        self._thread.start()

    def wait_loaded(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _load_logged(self) -> None:
        started = time.perf_counter()
        try:
            self.executor.submit(self._load).result()
        except Exception as exc:  # any failure is the service's state, shown by /healthz, logged once
            log.exception("loading %s failed", self.config.model_name)
            self.status.state, self.status.error = FAILED, f"{type(exc).__name__}: {exc}"
            return
        self.status.loaded_s = round(time.perf_counter() - started, 1)
        self.status.state, self.status.progress = READY, "ready"
        log.info("%s ready in %.1f s: %d conversation slot(s) on %s", self.config.model_name, self.status.loaded_s,
                 len(self._slots), self.config.device)

    def _set_progress(self, text: str) -> None:
        self.status.progress = text
        log.info("%s", text)

    def _checkpoint_models(self) -> tuple:
        import torch

        cfg = self.config
        self._set_progress(f"fetching {cfg.model_name}")
        info = checkpoint_info(cfg, checkpoint_dir(cfg))
        self._set_progress("loading the Mimi codec")
        mimi = info.get_mimi(device=cfg.device)
        self._set_progress(f"loading the Moshi LM ({cfg.dtype})")
        lm = info.get_moshi(device=cfg.device, dtype=getattr(torch, cfg.dtype))
        return mimi, lm, info.get_text_tokenizer()

    def _load(self) -> None:
        import torch
        from moshi.models import LMGen

        cfg = self.config
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"DEVICE={cfg.device} but no CUDA device is visible (set DEVICE=cpu to run on CPU)")
        mimi, lm, tokenizer = self._models()
        self.sample_rate = int(mimi.sample_rate)
        self.frame_ms = round(1000 / mimi.frame_rate)
        sampling = dict(temp=cfg.temperature, temp_text=cfg.temperature_text, top_k=cfg.top_k,
                        top_k_text=cfg.top_k_text)
        # Copies first (a module that is streaming cannot be copied), then each starts its own stream.
        modules = [(mimi, lm)] + [(_sharing_weights(mimi), _sharing_weights(lm))
                                  for _ in range(cfg.max_conversations - 1)]
        for index, (slot_mimi, slot_lm) in enumerate(modules):
            lm_gen = LMGen(slot_lm, **sampling)
            slot_mimi.streaming_forever(1)
            lm_gen.streaming_forever(1)
            self._slots.append(Slot(index, slot_mimi, lm_gen, tokenizer, cfg.device, cfg.seed))
        if cfg.warmup:
            self._set_progress("warming up")
            for slot in self._slots:
                for _ in range(4):
                    slot.step(np.zeros(slot.frame_size, dtype=np.float32))
                slot.reset()
        for slot in self._slots:
            slot.metrics = self.metrics
        self._free = list(reversed(self._slots))

    # -- conversations -------------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.status.state == READY

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._slots) - len(self._free) if self.ready else 0

    def acquire(self) -> Slot | None:
        """A free slot, or None when every one is in a conversation (the caller refuses: never a queue)."""
        with self._lock:
            if not self.ready or not self._free:
                self.status.refused_total += 1
                reason = "busy" if self.ready else "loading" if self.status.state == LOADING else "failed"
                self.metrics.refused.labels(reason).inc()
                return None
            self.status.conversations_total += 1
            self.metrics.active.inc()
            return self._free.pop()

    def release(self, slot: Slot) -> None:
        with self._lock:
            if slot not in self._free:
                self._free.append(slot)
                self.metrics.active.dec()

    def describe(self) -> dict:
        body: dict = {
            "status": self.status.state,
            "model": self.config.model_name,
            "device": self.config.device,
            "conversations": {"active": self.active, "max": self.config.max_conversations},
            "sample_rate": self.sample_rate,
            "frame_ms": self.frame_ms,
        }
        if self.status.state == LOADING:
            body["progress"] = self.status.progress
        if self.status.error:
            body["error"] = self.status.error
        body["totals"] = {"conversations": self.status.conversations_total, "refused": self.status.refused_total}
        return body

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
