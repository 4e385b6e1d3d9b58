"""The model-worker (`$WORKER_URL`): Omni chat, feedback and transcription, form-field detection, readiness.

The worker speaks the same error shape as the llm-api; its 429/503 pass through with `Retry-After`, its
validation answers (400/413/415/422) pass through with their codes, a 404 `model_not_found` (a model disabled by
the worker's ENABLED_MODELS) passes through with the worker's message, anything else is a `backend_error`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import requests

from .config import RETRY_AFTER_S
from .errors import ApiError, BackendError, BackendTimeout, ModelNotFound, error_for_status
from .schemas import (
    TIMING_KEYS,
    ChatOptions,
    DetectFieldsResponse,
    Timings,
    TranscribeResponse,
    VoiceFeedbackResponse,
    empty_timings,
)
from .upstream import AnswerLimits, ChatEvent, Upstream

if TYPE_CHECKING:
    from .metrics import Metrics

PASS_THROUGH = {400, 413, 415, 422, 429, 503, 504}


def worker_error(status: int, body: Any, headers: Mapping[str, str]) -> ApiError:
    """The llm-api's answer to a non-2xx worker answer (pure, so it is unit-tested without a worker)."""
    error = body.get("error") if isinstance(body, dict) else None
    message = ""
    code = None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        code = error.get("code")
    elif isinstance(error, str):
        message = error
    if status == 404 and code == "model_not_found":
        return ModelNotFound(message or "The model is not enabled on the model-worker; add it to its ENABLED_MODELS.")
    if status in PASS_THROUGH:  # with the contract's code for the status, whatever code the worker sent
        retry_after = None
        if status in (429, 503):
            raw = str(headers.get("Retry-After", "")).strip()
            retry_after = int(raw) if raw.isdigit() else RETRY_AFTER_S
        return error_for_status(status, message or f"The model-worker answered HTTP {status}; see its log.",
                                retry_after)
    return BackendError(f"The model-worker answered HTTP {status}" + (f": {message}" if message else "; see its log."))


def _stream_error(error: Any) -> ApiError:
    """A worker stream's final error line: a stall stays a timeout, anything else is the worker failing."""
    error = error if isinstance(error, dict) else {}
    cls = BackendTimeout if error.get("code") == "backend_timeout" else BackendError
    return cls(f"The model-worker failed mid-answer: {error.get('message', 'unknown')}")


def chat_timings(raw: Any) -> Timings:
    timings = empty_timings()
    if isinstance(raw, dict):
        for key in TIMING_KEYS:
            value = raw.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                timings[key] = value
    return timings


class WorkerClient:
    def __init__(self, base_url: str, http: requests.Session, read_timeout_s: float,
                 limits: AnswerLimits | None = None, metrics: Metrics | None = None):
        self.upstream = Upstream("model-worker", base_url, http, read_timeout_s, limits, metrics=metrics)

    def _post(self, path: str, request_id: str, **kwargs: Any) -> requests.Response:
        response = self.upstream.request("POST", path, request_id, **kwargs)
        if response.status_code == 200:
            return response
        try:
            body = response.json()
        except (ValueError, requests.RequestException):
            body = None
        finally:
            response.close()
        raise self.upstream.fail(worker_error(response.status_code, body, response.headers), request_id)

    def _json(self, path: str, request_id: str, **kwargs: Any) -> dict[str, Any]:
        response = self._post(path, request_id, **kwargs)
        body = self.upstream.read_json(response, request_id)
        if not isinstance(body, dict):
            raise self.upstream.fail(BackendError(f"The model-worker's {path} answer is not an object; see its log."),
                                     request_id)
        return body

    def readyz(self, request_id: str, timeout_s: float) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of the worker's /readyz; raises ApiError when it cannot be reached."""
        response = self.upstream.request("GET", "/readyz", request_id, read_timeout_s=timeout_s)
        body = self.upstream.read_json(response, request_id)
        return response.status_code, body if isinstance(body, dict) else {}

    def chat(self, messages: list[dict[str, str]], options: ChatOptions,
             request_id: str) -> tuple[str, Timings]:
        body = self._json("/omni/chat", request_id,
                          json={"messages": messages, "options": options.as_contract(), "stream": False})
        if not isinstance(body.get("answer"), str):
            raise self.upstream.fail(BackendError("The model-worker's chat answer has no 'answer'; see its log."),
                                     request_id)
        return body["answer"], chat_timings(body.get("timings"))

    def chat_stream(self, messages: list[dict[str, str]], options: ChatOptions,
                    request_id: str) -> Iterator[ChatEvent]:
        response = self._post("/omni/chat", request_id,
                              json={"messages": messages, "options": options.as_contract(), "stream": True})
        return self._chat_events(response, request_id)

    def _chat_events(self, response: requests.Response, request_id: str) -> Iterator[ChatEvent]:
        lines = self.upstream.ndjson(response, request_id)
        try:
            for item in lines:
                kind = item.get("type")
                if kind == "token" and isinstance(item.get("text"), str):
                    if item["text"]:
                        yield ChatEvent("token", item["text"])
                elif kind == "done":
                    answer = item.get("answer")
                    yield ChatEvent("done", text=answer if isinstance(answer, str) else "",
                                    timings=chat_timings(item.get("timings")))
                    return
                elif kind is None and isinstance(item.get("answer"), str):  # a whole answer, not a stream
                    if item["answer"]:
                        yield ChatEvent("token", item["answer"])
                    yield ChatEvent("done", text=item["answer"], timings=chat_timings(item.get("timings")))
                    return
                elif kind == "error":
                    raise self.upstream.fail(_stream_error(item.get("error")), request_id)
            raise self.upstream.fail(BackendError("The model-worker's stream ended before 'done'; try again."),
                                     request_id)
        finally:
            lines.close()

    def feedback(self, files: dict[str, Any], data: dict[str, str], request_id: str) -> VoiceFeedbackResponse:
        return cast(VoiceFeedbackResponse, self._text_answer("/omni/feedback", "feedback", "feedback", request_id,
                                                             files=files, data=data))

    def transcribe(self, files: dict[str, Any], data: dict[str, str], request_id: str) -> TranscribeResponse:
        return cast(TranscribeResponse, self._text_answer("/omni/transcribe", "transcript", "transcription",
                                                          request_id, files=files, data=data))

    def _text_answer(self, path: str, field: str, what: str, request_id: str, **payload: Any) -> dict[str, Any]:
        """The worker's JSON answer, passed through as it sent it, once `field` is checked to be text."""
        body = self._json(path, request_id, **payload)
        if not isinstance(body.get(field), str):
            raise self.upstream.fail(BackendError(f"The model-worker's {what} has no '{field}'; see its log."),
                                     request_id)
        return body

    def detect(self, request_id: str, **payload: Any) -> DetectFieldsResponse:
        return cast(DetectFieldsResponse, self._json("/detect", request_id, **payload))
