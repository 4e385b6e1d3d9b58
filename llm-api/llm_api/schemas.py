"""Request schemas of every llm-api route, validated at the edge (one place), and response shapes.

Each `parse_*` function takes the raw input and returns a frozen dataclass or raises `ApiError` 400
(`bad_request`) with a sentence naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Request

from .config import MAX_PROMPT_CHARS, MODEL_NAME_RE
from .errors import ApiError, bad_request
from .store import format_timestamp

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OMNI_MODEL = "omni"
TIMING_KEYS = ("total_ms", "load_ms", "prompt_tokens", "completion_tokens", "tokens_per_s", "first_token_ms")
MAX_SESSIONS_LIMIT = 200
DEFAULT_SESSIONS_LIMIT = 50
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class ChatOptions:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None

    def as_contract(self) -> dict[str, Any]:
        """The options as the contract names them (sent to the worker as they are)."""
        return {k: v for k, v in vars(self).items() if v is not None}

    def as_ollama(self) -> dict[str, Any]:
        """Ollama's option names: `max_tokens` is `num_predict`."""
        mapped = self.as_contract()
        if "max_tokens" in mapped:
            mapped["num_predict"] = mapped.pop("max_tokens")
        return mapped


@dataclass(frozen=True)
class AskRequest:
    prompt: str
    model: str
    session_id: str | None
    system: str | None
    options: ChatOptions
    stream: bool


@dataclass(frozen=True)
class PullRequest:
    name: str


@dataclass(frozen=True)
class SessionsQuery:
    limit: int
    before: str | None


def read_json(request: Request) -> Any:
    """The request's JSON body: 415 unless it is declared JSON, 400 if it does not parse."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "The body must be JSON (Content-Type: application/json).")
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit and body_continues(request):
        # a chunked body is cut at the limit by werkzeug: it was too large if more of it is still to come
        raise ApiError(413, "payload_too_large", f"The body is larger than {limit} bytes.")
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise bad_request("The body's JSON is nested too deeply.") from None
    if body is None:
        raise bad_request("The body is not valid JSON." if data.strip() else "The body is empty; JSON expected.")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # JSON allows "\ud800" escapes that decode to lone surrogates, which no UTF-8 output can carry
        raise bad_request("The body contains an invalid Unicode escape (an unpaired surrogate).") from None
    except RecursionError:
        raise bad_request("The body's JSON is nested too deeply.") from None
    return body


def body_continues(request: Request) -> bool:
    """Whether the client sent more body than werkzeug let through (a chunked body read up to the limit)."""
    try:
        return bool(request.environ["wsgi.input"].read(1))
    except (OSError, ValueError):
        return True


def _object(body: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"Unknown field '{unknown[0]}'.")
    return body


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise bad_request(f"'{name}' must be a number.")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low:g} and {high:g}.")
    return float(value)


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer.")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low} and {high}.")
    return value


def text_field(name: str, value: Any, *, required: bool, max_chars: int = MAX_PROMPT_CHARS) -> str | None:
    """A string field: non-blank when given, at most `max_chars` code points."""
    if value is None:
        if required:
            raise bad_request(f"'{name}' is required.")
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string.")
    if not value.strip():
        raise bad_request(f"'{name}' must not be blank.")
    if len(value) > max_chars:
        raise bad_request(f"'{name}' is longer than {max_chars} characters ({len(value)}).")
    return value


def session_id(value: Any, name: str = "session_id") -> str:
    if not isinstance(value, str) or not SESSION_ID_RE.match(value):
        raise bad_request(f"'{name}' must match [A-Za-z0-9_-]{{1,64}}.")
    return value


def model_name(value: Any, name: str = "model") -> str:
    if not isinstance(value, str) or not MODEL_NAME_RE.match(value):
        raise bad_request(f"'{name}' must be a model name like 'llama3.2:3b' (letters, digits, . _ : / -).")
    return value


def parse_options(value: Any) -> ChatOptions:
    if value is None:
        return ChatOptions()
    if not isinstance(value, dict):
        raise bad_request("'options' must be an object.")
    unknown = sorted(set(value) - {"temperature", "top_p", "max_tokens", "seed"})
    if unknown:
        raise bad_request(f"Unknown option 'options.{unknown[0]}'.")
    get = value.get
    return ChatOptions(
        temperature=None if get("temperature") is None else _number("options.temperature", get("temperature"), 0, 2),
        top_p=None if get("top_p") is None else _number("options.top_p", get("top_p"), 0, 1),
        max_tokens=None if get("max_tokens") is None else _integer("options.max_tokens", get("max_tokens"), 1, 8192),
        seed=None if get("seed") is None else _integer("options.seed", get("seed"), -MAX_SEED - 1, MAX_SEED),
    )


def parse_ask(body: Any, default_model: str) -> AskRequest:
    obj = _object(body, {"prompt", "model", "session_id", "system", "options", "stream"})
    stream = obj.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false.")
    sid = obj.get("session_id")
    return AskRequest(
        prompt=text_field("prompt", obj.get("prompt"), required=True) or "",
        model=default_model if obj.get("model") is None else model_name(obj.get("model")),
        session_id=None if sid is None else session_id(sid),
        system=text_field("system", obj.get("system"), required=False),
        options=parse_options(obj.get("options")),
        stream=stream,
    )


def parse_pull(body: Any) -> PullRequest:
    obj = _object(body, {"name"})
    if obj.get("name") is None:
        raise bad_request("'name' is required.")
    name = model_name(obj.get("name"), "name")
    if name == OMNI_MODEL:
        raise bad_request("'omni' is served by the model-worker and cannot be pulled through Ollama.")
    return PullRequest(name=name)


def parse_rfc3339(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad_request(f"'{name}' must be an RFC 3339 timestamp like 2026-01-31T12:00:00Z.") from None
    if parsed.tzinfo is None:
        raise bad_request(f"'{name}' must carry a time zone (e.g. a trailing Z).")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        raise bad_request(f"'{name}' is out of range.") from None


def parse_sessions_query(args: Mapping[str, str]) -> SessionsQuery:
    unknown = sorted(set(args) - {"limit", "before"})
    if unknown:
        raise bad_request(f"Unknown query parameter '{unknown[0]}'.")
    limit = DEFAULT_SESSIONS_LIMIT
    if "limit" in args:
        raw = args["limit"]
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_SESSIONS_LIMIT:
            raise bad_request(f"'limit' must be an integer from 1 to {MAX_SESSIONS_LIMIT}.")
        limit = int(raw)
    before = None
    if "before" in args:
        before = format_timestamp(parse_rfc3339(args["before"], "before"))
    return SessionsQuery(limit=limit, before=before)


def parse_bool_field(name: str, value: str | None) -> bool:
    if value is None or value == "":
        return False
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise bad_request(f"'{name}' must be 'true' or 'false'.")
    return lowered == "true"


def decode_base64(name: str, value: Any, max_bytes: int) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"'{name}' must be a non-empty base64 string.")
    text = value.strip()
    if text.startswith("data:") and "," in text:  # a data URL is accepted too
        text = text.split(",", 1)[1]
    text = "".join(text.split())  # line-wrapped base64 (what `base64` and MIME tools write) is accepted
    if len(text) * 3 // 4 > max_bytes + 3:
        raise ApiError(413, "payload_too_large", f"'{name}' decodes to more than {max_bytes // 2**20} MiB.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"'{name}' is not valid base64.") from None


def empty_timings() -> dict[str, Any]:
    return dict.fromkeys(TIMING_KEYS)
