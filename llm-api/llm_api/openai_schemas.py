"""OpenAI's chat-completions shapes on the llm-api's `/v1` routes: the request as OpenAI defines it, parsed into the
llm-api's own types, and the responses, stream chunks and errors as OpenAI's clients read them.

Unsupported features are refused as OpenAI refuses an invalid argument (400 `invalid_request_error` naming the
`param`): several choices (`n` > 1), tools and function calls, log probabilities, structured output, and image or
audio parts. Arguments that change nothing here (penalties, `user`, `metadata`, `store`, ...) are accepted and ignored.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from .errors import BadRequest
from .schemas import ChatOptions, Timings

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_STOP = 4
REFUSED = {
    "tools": "tools are not supported: no model here calls functions",
    "tool_choice": "tool_choice is not supported: no model here calls functions",
    "functions": "functions are not supported: no model here calls functions",
    "function_call": "function_call is not supported: no model here calls functions",
    "audio": "audio output is not supported on /v1; use POST /voice-feedback",
    "prediction": "predicted outputs are not supported",
}


class InvalidParam(BadRequest):
    """A 400 that names the request parameter at fault, as OpenAI's errors do."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    messages: list[dict[str, str]]
    options: ChatOptions
    stream: bool
    include_usage: bool


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParam(f"'{name}' must be a number", name)
    if not low <= value <= high:
        raise InvalidParam(f"'{name}' must be between {low:g} and {high:g}, got {value:g}", name)
    return float(value)


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParam(f"'{name}' must be an integer", name)
    if not low <= value <= high:
        raise InvalidParam(f"'{name}' must be between {low} and {high}, got {value}", name)
    return value


def _content(content: Any, param: str) -> str:
    """A message's text: a string, or a list of text parts (joined); other parts are refused."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, list):
        raise InvalidParam("a message's content must be a string or a list of content parts", param)
    texts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_audio", "file"):
            raise InvalidParam(f"content parts of type '{kind}' are not supported on /v1 (text only); use "
                               "/detect-fields for images and /voice-feedback for audio", f"{param}[{index}]")
        else:
            raise InvalidParam("a content part must be {\"type\": \"text\", \"text\": \"...\"}", f"{param}[{index}]")
    return "\n".join(texts)


def _messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidParam("'messages' must be a non-empty array of messages", "messages")
    messages = []
    for index, message in enumerate(raw):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InvalidParam("a message must be an object with 'role' and 'content'", param)
        role = message.get("role")
        if role in ("tool", "function"):
            raise InvalidParam(f"'{role}' messages are not supported: no model here calls functions", f"{param}.role")
        if not isinstance(role, str) or role not in ROLES:  # an object or array role is unhashable: never a lookup
            raise InvalidParam(f"'role' must be one of {', '.join(ROLES)}", f"{param}.role")
        if message.get("tool_calls"):
            raise InvalidParam("tool calls are not supported", f"{param}.tool_calls")
        messages.append({"role": ROLES[role], "content": _content(message.get("content"), f"{param}.content")})
    return messages


def _stop(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOP:
        raise InvalidParam(f"'stop' must be a non-empty string or an array of up to {MAX_STOP} of them", "stop")
    return tuple(stops) or None


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for name, message in REFUSED.items():
        if body.get(name) not in (None, [], {}, "none"):
            raise InvalidParam(message, name)
    if _integer(body, "n", 1, 128) not in (None, 1):
        raise InvalidParam("only one choice per request is supported ('n' must be 1)", "n")
    if body.get("logprobs") not in (None, False) or body.get("top_logprobs") not in (None, 0):
        raise InvalidParam("log probabilities are not supported", "logprobs")
    response_format = body.get("response_format")
    if response_format is not None and (not isinstance(response_format, dict) or response_format.get("type") != "text"):
        raise InvalidParam("only {\"type\": \"text\"} is supported as response_format", "response_format")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise InvalidParam("only the 'text' modality is supported on /v1", "modalities")


def parse_completion(body: Any) -> CompletionRequest:
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object (a chat completion request).")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidParam("'model' is required: one of the ids from GET /v1/models", "model")
    _refuse_unsupported(body)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidParam("'stream' must be true or false", "stream")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise InvalidParam("'stream_options' must be an object", "stream_options")
    include_usage = bool((stream_options or {}).get("include_usage", False))
    max_tokens = _integer(body, "max_tokens", 1, 1_000_000)  # checked even when max_completion_tokens wins
    max_completion_tokens = _integer(body, "max_completion_tokens", 1, 1_000_000)
    if max_completion_tokens is not None:
        max_tokens = max_completion_tokens
    options = ChatOptions(temperature=_number(body, "temperature", 0, 2), top_p=_number(body, "top_p", 0, 1),
                          max_tokens=max_tokens, seed=_integer(body, "seed", -(2**63), 2**63 - 1),
                          stop=_stop(body.get("stop")))
    return CompletionRequest(model=model.strip(), messages=_messages(body.get("messages")), options=options,
                             stream=stream, include_usage=include_usage)


# -- responses ------------------------------------------------------------------------------------------------
class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(TypedDict):
    id: str
    object: str
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: NotRequired[Usage]


def usage(timings: Timings) -> Usage | None:
    """OpenAI's usage from the contract's timings; None when the backend did not count tokens."""
    prompt, completion = timings.get("prompt_tokens"), timings.get("completion_tokens")
    if prompt is None or completion is None:
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def completion(completion_id: str, model: str, answer: str, finish: str, timings: Timings) -> ChatCompletion:
    body = ChatCompletion(
        id=completion_id, object="chat.completion", created=int(time.time()), model=model,
        choices=[{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": None},
                  "logprobs": None, "finish_reason": finish}],
    )
    counted = usage(timings)
    if counted is not None:
        body["usage"] = counted
    return body


def chunk(completion_id: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None,
          include_usage: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if include_usage:
        item["usage"] = None  # OpenAI sends null on every chunk but the last when usage is asked for
    return item


def usage_chunk(completion_id: str, model: str, created: int, timings: Timings) -> dict[str, Any]:
    counted = usage(timings) or Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
    return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": counted}


class OpenAIErrorDetail(TypedDict):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIErrorBody(TypedDict):
    """OpenAI's error shape (`ApiError.openai_body`): every `/v1` error and a `/v1` stream's error event."""

    error: OpenAIErrorDetail
