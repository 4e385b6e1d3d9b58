"""A streamed Omni chat answer as NDJSON lines (`start`, `token`..., `done`, or a final `error` line), holding the
Omni model from before the first line until the stream ends or the client goes away."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import ApiError
from .omni import ChatRequest
from .runtime import is_out_of_memory
from .schemas import ChatStart
from .slot import ModelSlot

log = logging.getLogger(__name__)


def ndjson_line(item: Mapping[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False) + "\n"


class ChatStream:
    """Takes the model when built, so a refusal (disabled, loading, queue full) is still a plain HTTP error; once
    `lines()` has started, an error is the stream's last line (the status is already 200)."""

    def __init__(self, slot: ModelSlot, model_name: str, request: ChatRequest, deadline: float, request_id: str):
        self._slot, self._model_name, self._request = slot, model_name, request
        self._deadline, self._request_id = deadline, request_id
        self._cancel = threading.Event()
        self._stack = contextlib.ExitStack()
        self._model = self._stack.enter_context(slot.acquire(deadline))

    def close(self) -> None:
        """Frees the model for the next request; idempotent (the response calls it too, also when the stream never
        started because the client had gone)."""
        self._cancel.set()
        self._stack.close()

    def lines(self) -> Iterator[str]:
        yield ndjson_line(ChatStart(type="start", model=self._model_name, request_id=self._request_id))
        failure: ApiError | None = None
        out_of_memory = False
        try:
            for event in self._model.chat_stream(self._request, self._deadline, self._cancel):
                yield ndjson_line(event)
        except ApiError as exc:
            failure = exc
        except Exception as exc:
            out_of_memory = is_out_of_memory(exc)
            if not out_of_memory:
                log.exception("omni chat stream failed (request %s)", self._request_id)
                failure = ApiError("The model failed mid-answer; see the model-worker log, then try again.")
        finally:
            self.close()  # frees the model as soon as the stream ends
        if out_of_memory:  # here, with the failed computation's tensors unreferenced
            failure = self._slot.out_of_memory("during a streamed chat answer")
        if failure is not None:
            yield ndjson_line({"type": "error", **failure.body(self._request_id)})
