"""`ModelSlot`: one model's state, and its inferences run one at a time behind a bounded queue.

The slot knows nothing of the model it holds: it is given a loader (a callable returning the loaded model object),
which `loading.ModelLoader` calls (one model at a time, with retries), and it hands that object to whoever holds it.
States: `disabled` (not in ENABLED_MODELS), `loading` (also between retries of a load that failed for a transient
reason), `ready`, `failed` (with the reason). Admission: one inference runs and up to `queue_size` more wait; a
request beyond that is refused at once with 429, and one that waits past its deadline gets 504. A request that runs
out of memory gets 503 with Retry-After, its memory is given back, and the slot keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .errors import BackendTimeout, BackendUnavailable, ModelNotFound, Overloaded
from .runtime import is_out_of_memory, release_memory

log = logging.getLogger(__name__)

DISABLED, LOADING, READY, FAILED = "disabled", "loading", "ready", "failed"


class ModelSlot:
    def __init__(
        self,
        key: str,
        name: str,
        loader: Callable[[], Any],
        *,
        enabled: bool = True,
        queue_size: int = 4,
        retry_after_s: int = 10,
    ):
        self.key = key
        self.name = name
        self.loader = loader
        self._retry_after_s = retry_after_s
        self._state = LOADING if enabled else DISABLED
        self._error: str | None = None
        self._model: Any = None
        self._settled = threading.Event()  # set once loading has ended (ready or failed), or when disabled
        if not enabled:
            self._settled.set()
        self.queue_size = queue_size
        self._admission = threading.BoundedSemaphore(1 + queue_size)
        self._admitted = 0  # requests holding a place (waiting, preparing or running); `_running` hold the model
        self._running = 0
        self._prepare_lock = threading.Lock()  # processors and tokenizers are not safe to share between threads
        self._run_lock = threading.Lock()
        self._guard = threading.Lock()
        self.attempts = 0
        self.load_seconds: float | None = None

    # -- loading (driven by loading.ModelLoader) -----------------------------------------------------------------
    def set_ready(self, model: Any, load_seconds: float) -> None:
        with self._guard:
            self._model, self._state, self._error = model, READY, None
            self.load_seconds = load_seconds
        self._settled.set()
        log.info("%s model %s ready in %.1f s (%s)", self.key, self.name, load_seconds, self.describe())

    def set_retrying(self, reason: str, delay_s: float) -> None:
        with self._guard:
            self._error = f"attempt {self.attempts} failed ({reason}); retrying in {delay_s:.0f} s"

    def set_failed(self, reason: str) -> None:
        with self._guard:
            self._state, self._error = FAILED, reason
        self._settled.set()

    def wait_loaded(self, timeout_s: float | None = None) -> bool:
        """Block until loading has ended (ready or failed); True when it has."""
        return self._settled.wait(timeout_s)

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def enabled(self) -> bool:
        return self._state != DISABLED

    @property
    def model(self) -> Any:
        """The loaded model object (None unless ready); for inspection, not for running it."""
        return self._model

    def occupancy(self) -> tuple[int, int]:
        """(requests in the queue, not holding the model: waiting, decoding, finishing; requests running on it)."""
        with self._guard:
            return max(0, self._admitted - self._running), self._running

    def describe(self) -> str:
        info = self.info()
        return f"device={info['device']} dtype={info['dtype']} memory_bytes={info['memory_bytes']}"

    def info(self) -> dict:
        """The contract's per-model readiness entry; device, dtype and bytes are measured from the loaded model."""
        footprint = getattr(self._model, "footprint", None)
        return {
            "state": self._state,
            "name": self.name,
            "device": footprint.device if footprint else None,
            "dtype": footprint.dtype if footprint else None,
            "memory_bytes": footprint.memory_bytes if footprint else None,
            "bytes_by_dtype": footprint.bytes_by_dtype if footprint else None,
            "error": self._error,
        }

    # -- running ---------------------------------------------------------------------------------------------
    def check_available(self) -> None:
        if self._state == DISABLED:
            raise ModelNotFound(
                f"The {self.key} model is disabled on this worker; add {self.key} to the worker's ENABLED_MODELS "
                "to enable it."
            )
        if self._state == LOADING:
            detail = f" ({self._error})" if self._error else ""
            raise BackendUnavailable(
                f"The {self.key} model {self.name} is still loading{detail}; try again in {self._retry_after_s} s.",
                retry_after=self._retry_after_s,
            )
        if self._state == FAILED:
            raise BackendUnavailable(
                f"The {self.key} model {self.name} failed to load ({self._error}); fix that and restart the worker.",
                retry_after=self._retry_after_s,
            )

    @contextlib.contextmanager
    def admitted(self) -> Iterator[Any]:
        """A place in the queue (429 when there is none); yields the model for work that needs no exclusive use."""
        self.check_available()
        if not self._admission.acquire(blocking=False):
            raise Overloaded(
                f"The {self.key} model's queue is full; try again in {self._retry_after_s} s.",
                retry_after=self._retry_after_s,
            )
        with self._guard:
            self._admitted += 1
        try:
            yield self._model
        finally:
            with self._guard:
                self._admitted -= 1
            self._admission.release()

    @contextlib.contextmanager
    def exclusive(self, deadline: float) -> Iterator[None]:
        """The model to oneself until the block ends; 504 when the wait would pass `deadline` (time.monotonic())."""
        if not self._run_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise BackendTimeout(
                f"The request waited too long in the {self.key} model's queue; try again when it is less busy."
            )
        with self._guard:
            self._running += 1
        try:
            yield
        finally:
            with self._guard:
                self._running -= 1
            self._run_lock.release()

    @contextlib.contextmanager
    def acquire(self, deadline: float) -> Iterator[Any]:
        """Hold the model for one inference (a queue place, then exclusive use)."""
        with self.admitted() as model, self.exclusive(deadline):
            yield model

    def run(self, fn: Callable[[Any], Any], deadline: float) -> Any:
        with self.acquire(deadline) as model:
            return self.guarded(fn, model)

    def run_pipeline(self, request: Any, deadline: float) -> Any:
        """`model.preprocess` while others run (it needs no model lock), `forward` alone, `postprocess` after."""
        with self.admitted() as model:
            with self._prepare_lock:
                prepared = self.guarded(model.preprocess, request)
            with self.exclusive(deadline):
                outputs = self.guarded(model.forward, prepared, deadline)
        return model.postprocess(prepared, outputs)

    def guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)`, with running out of memory turned into 503 + Retry-After once the memory is given back."""
        try:
            return fn(*args)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            failure = str(exc).splitlines()[0][:300]
        # Outside the except block the failed computation's frames, and so its tensors, are gone: free them now.
        raise self.out_of_memory(failure)

    def out_of_memory(self, detail: str) -> BackendUnavailable:
        """Give memory back after an allocation failure and say so (logged once here)."""
        release_memory()
        log.warning("%s model ran out of memory on a request (%s); memory released, still serving", self.key, detail)
        return BackendUnavailable(
            f"The {self.key} model ran out of memory on this request (the memory was released and the worker is "
            "still serving); try again shortly, or with a shorter input.",
            retry_after=self._retry_after_s,
        )
