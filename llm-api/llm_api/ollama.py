"""Ollama's native API (`/api/chat`, `/api/tags`, `/api/show`, `/api/pull`, `/api/version`) as the llm-api uses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests

from .config import RETRY_AFTER_S
from .errors import ApiError, BackendError, BackendUnavailable, ModelNotFound
from .schemas import ChatOptions, Timings, empty_timings
from .upstream import AnswerLimits, ChatEvent, Upstream, error_text

if TYPE_CHECKING:
    from .metrics import Metrics

NS_PER_MS = 1_000_000


def _ms(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return round(value / NS_PER_MS, 3)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def ollama_timings(final: dict[str, Any], first_token_ms: float | None = None) -> Timings:
    """The contract's timings from Ollama's final chunk (durations in nanoseconds); missing values are None."""
    timings = empty_timings()
    timings["total_ms"] = _ms(final.get("total_duration"))
    timings["load_ms"] = _ms(final.get("load_duration"))
    timings["prompt_tokens"] = _count(final.get("prompt_eval_count"))
    timings["completion_tokens"] = _count(final.get("eval_count"))
    eval_ns = final.get("eval_duration")
    if timings["completion_tokens"] is not None and isinstance(eval_ns, int | float) and eval_ns > 0:
        timings["tokens_per_s"] = round(timings["completion_tokens"] / (eval_ns / 1e9), 2)
    timings["first_token_ms"] = first_token_ms
    return timings


def finish_reason(final: dict[str, Any]) -> str:
    """OpenAI's finish reason from Ollama's `done_reason` (`length` when `num_predict` cut the answer)."""
    return "length" if final.get("done_reason") == "length" else "stop"


def pull_hint(model: str) -> str:
    return (f"Model '{model}' is not available in Ollama; pull it with POST /models/pull {{\"name\": \"{model}\"}} "
            f"or `docker compose exec ollama ollama pull {model}`.")


class OllamaClient:
    def __init__(self, base_url: str, http: requests.Session, read_timeout_s: float,
                 limits: AnswerLimits | None = None, metrics: Metrics | None = None):
        self.upstream = Upstream("Ollama", base_url, http, read_timeout_s, limits, metrics=metrics)

    def _post(self, path: str, body: dict[str, Any], request_id: str, model: str | None = None,
              read_timeout_s: float | None = None) -> requests.Response:
        response = self.upstream.request("POST", path, request_id, json=body,
                                         read_timeout_s=read_timeout_s)
        if response.status_code == 200:
            return response
        message = error_text(response)
        if response.status_code == 404 and model is not None:
            raise ModelNotFound(pull_hint(model))
        if response.status_code == 503:
            raise self.upstream.fail(BackendUnavailable(f"Ollama is busy ({message}); try again shortly.",
                                                        retry_after=RETRY_AFTER_S), request_id)
        raise self.upstream.fail(BackendError(f"Ollama answered HTTP {response.status_code}: {message}"), request_id)

    def _error_line(self, item: dict[str, Any], request_id: str) -> ApiError:
        return self.upstream.fail(BackendError(f"Ollama failed: {item['error']}"), request_id)

    def chat(self, model: str, messages: list[dict[str, str]], options: ChatOptions,
             request_id: str) -> tuple[str, Timings, str]:
        """A whole answer (`stream: false`): (answer, timings, finish reason)."""
        body = {"model": model, "messages": messages, "stream": False, "options": options.as_ollama()}
        response = self._post("/api/chat", body, request_id, model)
        item = self.upstream.read_json(response, request_id)
        if isinstance(item, dict) and "error" in item:
            raise self._error_line(item, request_id)
        message = item.get("message") if isinstance(item, dict) else None
        if not isinstance(message, dict) or not isinstance(message.get("content"), str) or not item.get("done"):
            raise self.upstream.fail(BackendError("Ollama's chat answer has no message content; see its log."),
                                     request_id)
        return message["content"], ollama_timings(item), finish_reason(item)

    def chat_stream(self, model: str, messages: list[dict[str, str]], options: ChatOptions,
                    request_id: str) -> Iterator[ChatEvent]:
        """Opens the stream now (so a refusal raises here), then yields token and done events."""
        body = {"model": model, "messages": messages, "stream": True, "options": options.as_ollama()}
        response = self._post("/api/chat", body, request_id, model)
        return self._chat_events(response, request_id)

    def _chat_events(self, response: requests.Response, request_id: str) -> Iterator[ChatEvent]:
        lines = self.upstream.ndjson(response, request_id)
        done = False
        try:
            for item in lines:
                if "error" in item:
                    raise self._error_line(item, request_id)
                message = item.get("message")
                text = message.get("content") if isinstance(message, dict) else None
                if isinstance(text, str) and text:
                    yield ChatEvent("token", text)
                if item.get("done") is True:
                    done = True
                    yield ChatEvent("done", timings=ollama_timings(item), finish_reason=finish_reason(item))
                    return
            raise self.upstream.fail(BackendError("Ollama's stream ended before the answer was done; try again."),
                                     request_id)
        finally:
            if done:  # complete: keep the connection; otherwise (the client left) closing it stops the generation
                self.upstream.finish(response)
            lines.close()

    def version(self, request_id: str, timeout_s: float) -> str:
        response = self.upstream.request("GET", "/api/version", request_id, read_timeout_s=timeout_s)
        body = self.upstream.read_json(response, request_id)
        if response.status_code != 200 or not isinstance(body, dict):
            raise self.upstream.fail(BackendError(f"Ollama /api/version answered HTTP {response.status_code}; see "
                                                  "its log."), request_id)
        return str(body.get("version", "unknown"))

    def tags(self, request_id: str, timeout_s: float) -> list[dict[str, Any]]:
        response = self.upstream.request("GET", "/api/tags", request_id, read_timeout_s=timeout_s)
        body = self.upstream.read_json(response, request_id)
        models = body.get("models") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(models, list):
            raise self.upstream.fail(BackendError("Ollama /api/tags answered badly; see its log."), request_id)
        return [m for m in models if isinstance(m, dict) and isinstance(m.get("name") or m.get("model"), str)]

    def capabilities(self, model: str, request_id: str, timeout_s: float) -> list[str] | None:
        """The model's capabilities from `/api/show`, or None when Ollama does not say."""
        try:
            response = self.upstream.request("POST", "/api/show", request_id, json={"model": model},
                                             read_timeout_s=timeout_s)
            body = self.upstream.read_json(response, request_id)
        except ApiError:
            return None
        caps = body.get("capabilities") if isinstance(body, dict) and response.status_code == 200 else None
        return [str(c) for c in caps] if isinstance(caps, list) else None

    def pull(self, model: str, request_id: str) -> Iterator[dict[str, Any]]:
        """Opens the pull now (a refusal raises here), then yields Ollama's progress objects."""
        response = self._post("/api/pull", {"model": model, "stream": True}, request_id, model)
        return self._pull_lines(response, request_id)

    def _pull_lines(self, response: requests.Response, request_id: str) -> Iterator[dict[str, Any]]:
        lines = self.upstream.ndjson(response, request_id)
        try:
            for item in lines:
                if "error" in item:
                    raise self._error_line(item, request_id)
                yield item
                if item.get("status") == "success":
                    return
            raise self.upstream.fail(BackendError("Ollama's pull ended without success; try the pull again."),
                                     request_id)
        finally:
            lines.close()
