"""Loading the worker's models: one after the other, in one background thread, retrying transient failures.

Why one at a time: `from_pretrained` switches torch's process-wide default dtype while it builds a model and
restores it afterwards, so two overlapping loads restore out of order and leave parameters in the wrong dtype
(measured: with DTYPE=bfloat16 and both models loading at once, 10 of 10 runs left some of Omni's parameters in
float32). `LOAD_LOCK` also serialises loads across several apps in one process (tests build many).

A load that fails for a transient reason (out of memory, a dropped connection while downloading) is retried with a
doubling backoff while the slot stays `loading`; the other model loads in the meantime. A permanent failure (a
missing repository, a bad setting, a model that does not fit, a dtype check that fails) ends in `failed` with the
reason, which `/readyz` shows.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

import torch

from .config import WorkerConfig
from .runtime import Placement, is_out_of_memory, release_memory
from .slot import LOADING, ModelSlot

log = logging.getLogger(__name__)

LOAD_LOCK = threading.Lock()
MAX_RETRY_DELAY_S = 300.0


def is_transient(exc: BaseException) -> bool:
    """Worth another try without a person's help: memory that may free up, or a network that may come back."""
    if is_out_of_memory(exc):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:  # the hub client's transport errors, and server-side HTTP errors (5xx, 429)
        import httpx
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # pragma: no cover - both come with transformers
        return False
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return status is not None and (status >= 500 or status == 429)
    return False


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ModelLoader:
    """Loads `slots` in order, one at a time; a transient failure re-queues its slot after a backoff."""

    def __init__(self, slots: Sequence[ModelSlot], *, retries: int, retry_s: float):
        self._pending = [slot for slot in slots if slot.state == LOADING]
        self._retries = retries
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self._pending:
            self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop waiting for retries (a load in progress finishes first)."""
        self._stop.set()

    def _run(self) -> None:
        due = {slot.key: 0.0 for slot in self._pending}
        while self._pending and not self._stop.is_set():
            slot = min(self._pending, key=lambda s: due[s.key])  # stable: ties keep the configured order
            wait_s = due[slot.key] - time.monotonic()
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            delay = self._attempt(slot)
            if delay is None:
                self._pending.remove(slot)
            else:
                due[slot.key] = time.monotonic() + delay

    def _attempt(self, slot: ModelSlot) -> float | None:
        """One load of `slot`; the seconds until the next try when it should be retried, else None."""
        slot.attempts += 1
        log.info("loading %s model %s (attempt %d)", slot.key, slot.name, slot.attempts)
        started = time.perf_counter()
        failure = None
        try:
            with LOAD_LOCK:
                model = slot.loader()
        except Exception as exc:
            failure, transient = describe(exc), is_transient(exc)
            if not transient:
                log.exception("loading %s model %s failed", slot.key, slot.name)
        if failure is None:
            slot.set_ready(model, time.perf_counter() - started)
            return None
        release_memory()  # whatever the failed attempt allocated is unreferenced now
        if not transient or slot.attempts > self._retries:
            if transient:
                log.error("loading %s model %s failed %d times, giving up: %s", slot.key, slot.name,
                          slot.attempts, failure)
                failure = f"{failure} (after {slot.attempts} attempts; restart the worker to try again)"
            slot.set_failed(failure)
            return None
        delay = min(self._retry_s * 2 ** (slot.attempts - 1), MAX_RETRY_DELAY_S)
        log.warning("loading %s model %s failed (%s); retrying in %.0f s", slot.key, slot.name, failure, delay)
        slot.set_retrying(failure, delay)
        return delay


def cuda_free_bytes(device: str) -> int:
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return free


class DeviceMemoryCheck:
    """Before each load on CUDA: does the model's plan (plan.py) fit in the device's free memory, less GPU_RESERVE_GIB
    and less what the models loaded before it will still allocate while serving (their KV caches and activations are
    not in a free-memory reading taken right after they loaded)? A model that does not fit raises NotEnoughMemory,
    which names the numbers and the settings that would make it fit; its slot goes to `failed`."""

    def __init__(self, config: WorkerConfig, free_bytes: Callable[[str], int] = cuda_free_bytes):
        self._config = config
        self._free_bytes = free_bytes
        self._committed = 0

    def check(self, key: str, placement: Placement):
        """The model's plan after checking that it fits (None off CUDA, where nothing is checked)."""
        if not placement.is_cuda:
            return None
        from .plan import GIB, check_fits, plan_models

        plan = plan_models(dataclasses.replace(self._config, enabled_models=(key,)), placement.dtype)[0]
        free = self._free_bytes(placement.device) - self._committed
        check_fits(plan, free, int(self._config.gpu_reserve_gib * GIB), self._config)
        log.info("memory plan: %s fits in %.2f GiB free", plan.describe(), free / GIB)
        return plan

    def loaded(self, plan, model) -> None:
        """Count what the model will still allocate while serving, and log the planned weights against the
        measured ones (a large gap means the plan's rules no longer match how the model loads)."""
        if plan is None:
            return
        self._committed += plan.working_bytes
        footprint = getattr(model, "footprint", None)
        if footprint is not None:
            log.info("memory plan: %s weights measured %.2f GiB on %s, planned %.2f GiB", plan.key,
                     footprint.memory_bytes / 2**30, footprint.device, plan.parts["weights"] / 2**30)
