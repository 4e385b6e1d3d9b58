"""`ModelSlot`: loads one model in the background and runs its inferences one at a time behind a bounded queue.

The slot knows nothing of the model it holds: it is given a loader (a callable returning the loaded model object)
and hands that object to whoever acquires it. States: `disabled` (not in ENABLED_MODELS), `loading`, `ready`,
`failed` (with the reason). Admission: one inference runs and up to `queue_size` more wait; a request beyond that
is refused at once with 429, and one that waits past its deadline gets 504.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .errors import BackendTimeout, BackendUnavailable, ModelNotFound, Overloaded

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
        self._loader = loader
        self._retry_after_s = retry_after_s
        self._state = LOADING if enabled else DISABLED
        self._error: str | None = None
        self._model: Any = None
        self._thread: threading.Thread | None = None
        self._admission = threading.BoundedSemaphore(1 + queue_size)
        self._run_lock = threading.Lock()
        self._guard = threading.Lock()
        self.load_seconds: float | None = None

    # -- loading -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the model in a daemon thread (no-op when disabled or already started)."""
        if self._state != LOADING or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._load, name=f"load-{self.key}", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        started = time.perf_counter()
        log.info("loading %s model %s", self.key, self.name)
        try:
            model = self._loader()
        except Exception as exc:
            log.exception("loading %s model %s failed", self.key, self.name)
            with self._guard:
                self._state, self._error = FAILED, f"{type(exc).__name__}: {exc}"
            return
        self.load_seconds = time.perf_counter() - started
        with self._guard:
            self._model, self._state = model, READY
        log.info("%s model %s ready in %.1f s (%s)", self.key, self.name, self.load_seconds, self.describe())

    def wait_loaded(self, timeout_s: float | None = None) -> bool:
        """Block until loading has finished (ready or failed); True when it has."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self._state != LOADING

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def enabled(self) -> bool:
        return self._state != DISABLED

    def describe(self) -> str:
        info = self.info()
        return f"device={info['device']} dtype={info['dtype']}"

    def info(self) -> dict:
        """The contract's per-model readiness entry: state, name, device, dtype, error."""
        model = self._model
        return {
            "state": self._state,
            "name": self.name,
            "device": getattr(model, "device_name", None) if model is not None else None,
            "dtype": getattr(model, "dtype_name", None) if model is not None else None,
            "error": self._error,
        }

    # -- running ---------------------------------------------------------------------------------------------
    def check_available(self) -> None:
        if self._state == DISABLED:
            raise ModelNotFound(
                f"the {self.key} model is disabled on this worker; add {self.key} to the worker's ENABLED_MODELS "
                "to enable it"
            )
        if self._state == LOADING:
            raise BackendUnavailable(
                f"the {self.key} model {self.name} is still loading", retry_after=self._retry_after_s
            )
        if self._state == FAILED:
            raise BackendUnavailable(
                f"the {self.key} model {self.name} failed to load: {self._error}", retry_after=self._retry_after_s
            )

    @contextlib.contextmanager
    def acquire(self, deadline: float) -> Iterator[Any]:
        """Hold the model for one inference. `deadline` is a time.monotonic() value for the whole request."""
        self.check_available()
        if not self._admission.acquire(blocking=False):
            raise Overloaded(
                f"the {self.key} model's queue is full; try again shortly", retry_after=self._retry_after_s
            )
        try:
            if not self._run_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise BackendTimeout(f"the request waited too long in the {self.key} model's queue")
            try:
                yield self._model
            finally:
                self._run_lock.release()
        finally:
            self._admission.release()

    def run(self, fn: Callable[[Any], Any], deadline: float) -> Any:
        with self.acquire(deadline) as model:
            return fn(model)
