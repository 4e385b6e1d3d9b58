"""An OpenAI-compatible backend (`OPENAI_BACKENDS`: Gemini's OpenAI endpoint, vLLM, llama.cpp's server, ...).

Chat goes to `<base_url>/chat/completions` (whole, or as server-sent events), models come from `<base_url>/models`
(discovered with a short timeout and cached, or pinned by configuration). The backend's `usage` and, when it sends
them, llama.cpp's `timings` become the contract's timings. Its answers map onto the contract's errors: a refused key
is 502 (the operator's key, not the caller's, is wrong), 429 and 5xx are 503 with `Retry-After`, an unknown model is
404, a malformed stream is 502. The key is sent only in the `Authorization` header and scrubbed from every message.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from .config import CONNECT_TIMEOUT_S, RETRY_AFTER_S, OpenAIBackendConfig
from .errors import ApiError, BackendError, BackendUnavailable, ModelNotFound
from .schemas import ChatOptions, Timings, empty_timings
from .upstream import AnswerLimits, ChatEvent, Upstream, error_text

if TYPE_CHECKING:
    from .metrics import Metrics

DISCOVERY_TTL_S = 60.0  # how long a successful /models answer is reused
FAILURE_TTL_S = 10.0  # how long a failed one is (so a listing never waits on a dead backend twice in a row)
FINISH_REASONS = {"stop", "length", "content_filter", "tool_calls"}


@dataclass(frozen=True)
class Discovery:
    """What a backend's model listing found: its model ids, or why it failed (`error` set, `models` pinned ones)."""

    models: tuple[str, ...]
    error: str | None
    at: float


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def openai_timings(usage: Any, extra: Any = None) -> Timings:
    """The contract's timings from OpenAI's `usage` and llama.cpp's `timings` extension (when present)."""
    timings = empty_timings()
    if isinstance(usage, dict):
        timings["prompt_tokens"] = _count(usage.get("prompt_tokens"))
        timings["completion_tokens"] = _count(usage.get("completion_tokens"))
    if isinstance(extra, dict):
        rate = _number(extra.get("predicted_per_second"))
        timings["tokens_per_s"] = round(rate, 2) if rate is not None else None
        prompt_ms, predicted_ms = _number(extra.get("prompt_ms")), _number(extra.get("predicted_ms"))
        if prompt_ms is not None and predicted_ms is not None:
            timings["total_ms"] = round(prompt_ms + predicted_ms, 3)
        if timings["prompt_tokens"] is None:
            timings["prompt_tokens"] = _count(extra.get("prompt_n"))
        if timings["completion_tokens"] is None:
            timings["completion_tokens"] = _count(extra.get("predicted_n"))
    return timings


def finish_reason(choice: dict[str, Any]) -> str | None:
    reason = choice.get("finish_reason")
    return reason if reason in FINISH_REASONS else ("stop" if reason else None)


class OpenAIBackend:
    """One configured backend; `name` is the prefix of its models' names (`<name>/<model>`)."""

    def __init__(self, config: OpenAIBackendConfig, http: requests.Session, read_timeout_s: float,
                 limits: AnswerLimits | None = None, metrics: Metrics | None = None):
        self.config = config
        self.name = config.name
        self.upstream = Upstream(f"backend '{config.name}'", config.base_url, http, read_timeout_s, limits,
                                 label=f"openai/{config.name}", metrics=metrics)
        self._discovery: Discovery | None = None
        self._discovery_lock = threading.Lock()

    # -- requests -----------------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    def scrub(self, text: str) -> str:
        """`text` with the backend's key removed (some backends quote the key they refused)."""
        key = self.config.api_key
        return text.replace(key, "[key]") if key and len(key) >= 4 else text

    def fail(self, error: ApiError, request_id: str) -> ApiError:
        error.message = self.scrub(error.message)
        return self.upstream.fail(error, request_id)

    def _refusal(self, response: requests.Response, model: str | None, request_id: str) -> ApiError:
        """The contract error for a non-2xx answer, logged once."""
        status = response.status_code
        message = self.scrub(error_text(response))[:300]
        where = f"backend '{self.name}'"
        if status in (401, 403):
            return self.fail(BackendError(
                f"{where} refused the configured key (HTTP {status}); check OPENAI_BACKEND_{self.name.upper()}_API_KEY."
            ), request_id)
        if status == 404 and model is not None:
            return self.fail(ModelNotFound(f"{where} has no model '{model}' ({message}); see GET /models."),
                             request_id)
        if status == 429 or status >= 500:
            raw = str(response.headers.get("Retry-After", "")).strip()
            retry_after = min(int(raw), 3600) if raw.isdigit() else RETRY_AFTER_S
            reason = "is rate-limiting requests" if status == 429 else f"failed (HTTP {status})"
            return self.fail(BackendUnavailable(f"{where} {reason}: {message}; try again shortly.",
                                                retry_after=retry_after), request_id)
        return self.fail(BackendError(f"{where} answered HTTP {status}: {message}"), request_id)

    def _post_chat(self, model: str, messages: list[dict[str, str]], options: ChatOptions, stream: bool,
                   request_id: str) -> requests.Response:
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream, **options.as_openai()}
        if stream:
            body["stream_options"] = {"include_usage": True}
        try:
            response = self.upstream.request("POST", "/chat/completions", request_id, json=body,
                                             headers=self._headers())
        except ApiError as err:
            err.message = self.scrub(err.message)
            raise
        if response.status_code != 200:
            raise self._refusal(response, model, request_id)
        return response

    # -- chat ---------------------------------------------------------------------------------------------------
    def chat(self, model: str, messages: list[dict[str, str]], options: ChatOptions,
             request_id: str) -> tuple[str, Timings, str]:
        """A whole answer: (answer, timings, finish reason)."""
        response = self._post_chat(model, messages, options, False, request_id)
        body = self.upstream.read_json(response, request_id)
        choices = body.get("choices") if isinstance(body, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise self.fail(BackendError(f"backend '{self.name}' answered without a message; see its log."),
                            request_id)
        return content, openai_timings(body.get("usage"), body.get("timings")), finish_reason(choice) or "stop"

    def chat_stream(self, model: str, messages: list[dict[str, str]], options: ChatOptions,
                    request_id: str) -> Iterator[ChatEvent]:
        """Opens the stream now (a refusal raises here), then yields token events and one done event."""
        response = self._post_chat(model, messages, options, True, request_id)
        return self._events(response, request_id)

    def _events(self, response: requests.Response, request_id: str) -> Iterator[ChatEvent]:
        reason: str | None = None
        usage: Any = None
        extra: Any = None
        for data in self.sse_data(response, request_id):
            if data == "[DONE]":
                yield ChatEvent("done", timings=openai_timings(usage, extra), finish_reason=reason or "stop")
                return
            chunk = self._chunk(data, request_id)
            usage = chunk.get("usage") or usage
            extra = chunk.get("timings") or extra
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(text, str) and text:
                    yield ChatEvent("token", text)
                reason = finish_reason(choice) or reason
        raise self.fail(BackendError(f"backend '{self.name}' ended its stream before [DONE]; try again."), request_id)

    def _chunk(self, data: str, request_id: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            raise self.fail(BackendError(f"backend '{self.name}' sent an event that is not a JSON object."),
                            request_id)
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise self.fail(BackendError(f"backend '{self.name}' failed mid-answer: {message}"), request_id)
        return chunk

    def sse_data(self, response: requests.Response, request_id: str) -> Iterator[str]:
        """The `data` of each server-sent event (multi-line data joined with newlines; comments and other fields
        skipped). Lines are bounded like NDJSON lines; the response is closed when this ends or is closed."""
        data: list[str] = []
        for line in self._lines(response, request_id):
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
        if data:
            yield "\n".join(data)

    def _lines(self, response: requests.Response, request_id: str) -> Iterator[str]:
        buffer = bytearray()
        try:
            for block in self.upstream.chunks(response, request_id):
                buffer += block
                if b"\n" in block:
                    *lines, rest = bytes(buffer).split(b"\n")
                    buffer = bytearray(rest)
                    for line in lines:
                        yield self._decode(line, request_id)
                if len(buffer) > self.upstream.limits.max_body_bytes:
                    raise self.fail(BackendError(f"backend '{self.name}' sent an over-long event line."), request_id)
            if buffer:
                yield self._decode(bytes(buffer), request_id)
        finally:
            response.close()

    def _decode(self, line: bytes, request_id: str) -> str:
        try:
            return line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise self.fail(BackendError(f"backend '{self.name}' sent bytes that are not UTF-8."), request_id) from None

    # -- models -------------------------------------------------------------------------------------------------
    def discovery(self, request_id: str, timeout_s: float) -> Discovery:
        """The backend's models from `/models` (the pinned ones instead, when configured: the backend is still asked,
        so a dead one or a refused key shows), cached for DISCOVERY_TTL_S (FAILURE_TTL_S after a failure). While one
        caller refreshes, the others get the previous answer at once; only the first listing waits, for at most
        the probe timeout."""
        current = self._discovery
        if self._fresh(current):
            return current  # type: ignore[return-value]
        lock = self._discovery_lock
        acquired = lock.acquire(timeout=timeout_s + CONNECT_TIMEOUT_S) if current is None else lock.acquire(False)
        if not acquired:
            return current or Discovery(self.config.models, f"backend '{self.name}' is still being asked for its "
                                        "models", time.monotonic())
        try:
            if not self._fresh(self._discovery):
                self._discovery = self._discover(request_id, timeout_s)
            return self._discovery  # type: ignore[return-value]
        finally:
            lock.release()

    @staticmethod
    def _fresh(found: Discovery | None) -> bool:
        return found is not None and time.monotonic() - found.at < (FAILURE_TTL_S if found.error else DISCOVERY_TTL_S)

    def _discover(self, request_id: str, timeout_s: float) -> Discovery:
        pinned = self.config.models
        try:
            response = self.upstream.request("GET", "/models", request_id, read_timeout_s=timeout_s,
                                             headers=self._headers())
            if pinned and response.status_code == 404:  # no listing route: it answered, its pinned models stand
                response.close()
                return Discovery(pinned, None, time.monotonic())
            if response.status_code != 200:
                raise self._refusal(response, None, request_id)
            body = self.upstream.read_json(response, request_id)
        except ApiError as err:
            return Discovery(pinned, self.scrub(err.message), time.monotonic())
        if pinned:
            return Discovery(pinned, None, time.monotonic())
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return Discovery((), f"backend '{self.name}' answered /models without a model list",
                             time.monotonic())
        ids = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]]
        return Discovery(tuple(dict.fromkeys(ids)), None, time.monotonic())

    def check_model(self, model: str, request_id: str, timeout_s: float) -> None:
        """404 for a model the backend did not list (servers of one model, like llama.cpp's, answer whatever name
        they are sent); when the listing failed, the backend itself is asked and answers for its models."""
        found = self.discovery(request_id, timeout_s)
        if found.error is None and model not in found.models:
            known = ", ".join(f"{self.name}/{m}" for m in found.models[:10]) or "none"
            raise ModelNotFound(f"backend '{self.name}' has no model '{model}' (it has: {known}); see GET /models.")
