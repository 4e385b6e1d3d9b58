"""The llm-api's HTTP shapes in one module: request schemas of every route, validated at the edge (JSON bodies,
queries and the upload forms), and the response bodies as TypedDicts, so each route's answer has one declared shape
that docs/api.md can be checked against.

Each `parse_*` function takes the raw input and returns a frozen dataclass or raises a contract error (mostly 400
`bad_request`, naming the field; 413/415/422 for uploads). Limits come from `Config`; a parser given none uses
`Config`'s defaults (the contract's).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from flask import Request
from werkzeug.datastructures import FileStorage

from . import sniffing
from .config import MIB, MODEL_NAME_RE, Config
from .errors import BadRequest, NotFound, PayloadTooLarge, UnprocessableMedia, UnsupportedMediaType
from .store import format_timestamp

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LANGUAGE_RE = re.compile(r"[A-Za-z-]{1,16}")  # /transcribe's hint: `ja`, `en`, `en-US` (fullmatch)
OMNI_MODEL = "omni"
TIMING_KEYS = ("total_ms", "load_ms", "prompt_tokens", "completion_tokens", "tokens_per_s", "first_token_ms")
MAX_SESSIONS_LIMIT = 200
DEFAULT_SESSIONS_LIMIT = 50
MAX_SEED = 2**63 - 1
NESTED_TOO_DEEPLY = "The body's JSON is nested too deeply; send a flatter object."


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names))


@dataclass(frozen=True)
class ChatOptions:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None  # OpenAI's `stop` (on /v1 only; the worker's Omni ignores it)

    def as_contract(self) -> dict[str, Any]:
        """The options as the contract names them (sent to the worker as they are)."""
        return {k: v for k, v in vars(self).items() if v is not None and k != "stop"}

    def as_ollama(self) -> dict[str, Any]:
        """Ollama's option names: `max_tokens` is `num_predict`."""
        mapped = self.as_contract()
        if "max_tokens" in mapped:
            mapped["num_predict"] = mapped.pop("max_tokens")
        if self.stop:
            mapped["stop"] = list(self.stop)
        return mapped

    def as_openai(self) -> dict[str, Any]:
        """OpenAI's request fields (`max_tokens`: the name every OpenAI-compatible server still accepts)."""
        mapped = self.as_contract()
        if self.stop:
            mapped["stop"] = list(self.stop)
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
        raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit and body_continues(request):
        # a chunked body is cut at the limit by werkzeug: it was too large if more of it is still to come
        raise PayloadTooLarge(f"The body is larger than {limit} bytes; send a shorter one.")
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise BadRequest(NESTED_TOO_DEEPLY) from None
    if body is None:
        raise BadRequest("The body is not valid JSON; send a JSON object." if data.strip()
                         else "The body is empty; send a JSON object.")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # JSON allows "\ud800" escapes that decode to lone surrogates, which no UTF-8 output can carry
        raise BadRequest(
            "The body contains an invalid Unicode escape (an unpaired surrogate); send valid UTF-8 text."
        ) from None
    except RecursionError:
        raise BadRequest(NESTED_TOO_DEEPLY) from None
    return body


def body_continues(request: Request) -> bool:
    """Whether the client sent more body than werkzeug let through (a chunked body read up to the limit)."""
    try:
        return bool(request.environ["wsgi.input"].read(1))
    except (OSError, ValueError):
        return True


def _object(body: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Send the body as a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"Unknown field '{unknown[0]}'; send only {_listed(allowed)}.")
    return body


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise BadRequest(f"Send '{name}' as a number.")
    if not low <= value <= high:
        raise BadRequest(f"Send '{name}' between {low:g} and {high:g}.")
    return float(value)


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"Send '{name}' as an integer.")
    if not low <= value <= high:
        raise BadRequest(f"Send '{name}' between {low} and {high}.")
    return value


def text_field(name: str, value: Any, *, required: bool, max_chars: int = Config.max_prompt_chars) -> str | None:
    """A string field: non-blank when given, at most `max_chars` code points."""
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required; send it as a non-blank string.")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Send '{name}' as a string.")
    if not value.strip():
        raise BadRequest(f"'{name}' is blank; send some text or leave it out.")
    if len(value) > max_chars:
        raise BadRequest(f"'{name}' is longer than {max_chars} characters ({len(value)}); send a shorter one.")
    return value


def session_id(value: Any, name: str = "session_id") -> str:
    if not isinstance(value, str) or not SESSION_ID_RE.match(value):
        raise BadRequest(f"Send '{name}' as 1-64 of A-Z, a-z, 0-9, _ and - ([A-Za-z0-9_-]{{1,64}}).")
    return value


def session_not_found(sid: str) -> NotFound:
    return NotFound(f"Session '{sid}' does not exist; list the sessions with GET /sessions.")


def model_name(value: Any, name: str = "model") -> str:
    if not isinstance(value, str) or not MODEL_NAME_RE.match(value):
        raise BadRequest(f"Send '{name}' as a model name like 'llama3.2:3b' (letters, digits, . _ : / -).")
    return value


def parse_options(value: Any) -> ChatOptions:
    if value is None:
        return ChatOptions()
    if not isinstance(value, dict):
        raise BadRequest("Send 'options' as an object.")
    unknown = sorted(set(value) - {"temperature", "top_p", "max_tokens", "seed"})
    if unknown:
        raise BadRequest(f"Unknown option 'options.{unknown[0]}'; send only temperature, top_p, max_tokens, seed.")
    get = value.get
    return ChatOptions(
        temperature=None if get("temperature") is None else _number("options.temperature", get("temperature"), 0, 2),
        top_p=None if get("top_p") is None else _number("options.top_p", get("top_p"), 0, 1),
        max_tokens=None if get("max_tokens") is None else _integer("options.max_tokens", get("max_tokens"), 1, 8192),
        seed=None if get("seed") is None else _integer("options.seed", get("seed"), -MAX_SEED - 1, MAX_SEED),
    )


def parse_ask(body: Any, default_model: str, max_prompt_chars: int = Config.max_prompt_chars) -> AskRequest:
    obj = _object(body, {"prompt", "model", "session_id", "system", "options", "stream"})
    stream = obj.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("Send 'stream' as true or false.")
    sid = obj.get("session_id")
    return AskRequest(
        prompt=text_field("prompt", obj.get("prompt"), required=True, max_chars=max_prompt_chars) or "",
        model=default_model if obj.get("model") is None else model_name(obj.get("model")),
        session_id=None if sid is None else session_id(sid),
        system=text_field("system", obj.get("system"), required=False, max_chars=max_prompt_chars),
        options=parse_options(obj.get("options")),
        stream=stream,
    )


def parse_pull(body: Any) -> PullRequest:
    obj = _object(body, {"name"})
    if obj.get("name") is None:
        raise BadRequest("'name' is required; send the Ollama model to pull.")
    name = model_name(obj.get("name"), "name")
    if name == OMNI_MODEL:
        raise BadRequest("'omni' is served by the model-worker and needs no pull; name an Ollama model.")
    return PullRequest(name=name)


def parse_rfc3339(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"Send '{name}' as an RFC 3339 timestamp like 2026-01-31T12:00:00Z.") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"'{name}' has no time zone; add one (e.g. a trailing Z).")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        raise BadRequest(f"'{name}' is out of range; send a timestamp between the years 1 and 9999 in UTC.") from None


def parse_sessions_query(args: Mapping[str, str]) -> SessionsQuery:
    unknown = sorted(set(args) - {"limit", "before"})
    if unknown:
        raise BadRequest(f"Unknown query parameter '{unknown[0]}'; send only limit and before.")
    limit = DEFAULT_SESSIONS_LIMIT
    if "limit" in args:
        raw = args["limit"]
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_SESSIONS_LIMIT:
            raise BadRequest(f"Send 'limit' as an integer from 1 to {MAX_SESSIONS_LIMIT}.")
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
        raise BadRequest(f"Send '{name}' as 'true' or 'false'.")
    return lowered == "true"


def decode_base64(name: str, value: Any, max_bytes: int) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"Send '{name}' as a non-empty base64 string.")
    text = value.strip()
    if text.startswith("data:") and "," in text:  # a data URL is accepted too
        text = text.split(",", 1)[1]
    text = "".join(text.split())  # line-wrapped base64 (what `base64` and MIME tools write) is accepted
    if len(text) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"'{name}' decodes to more than {max_bytes / MIB:g} MiB; send a smaller file.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"'{name}' is not valid base64; send the file's bytes base64-encoded.") from None


def empty_timings() -> Timings:
    return Timings(total_ms=None, load_ms=None, prompt_tokens=None, completion_tokens=None, tokens_per_s=None,
                   first_token_ms=None)


# -- uploads: /voice-feedback, /transcribe and /detect-fields (multipart, or JSON for images) ------------------
FORM_OVERHEAD = 1 * MIB  # what a multipart body may hold besides its file
VOICE_FIELDS = {"prompt", "return_audio", "session_id"}
TRANSCRIBE_FIELDS = {"language"}


@dataclass(frozen=True)
class Upload:
    """A file as uploaded; `as_file` is how it is sent on to the worker."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    def as_file(self) -> tuple[str, bytes, str]:
        return self.filename or self.name, self.data, self.content_type or "application/octet-stream"


@dataclass(frozen=True)
class VoiceFields:
    prompt: str | None
    return_audio: bool
    session_id: str | None


@dataclass(frozen=True)
class TranscribeFields:
    language: str | None


@dataclass(frozen=True)
class DetectInput:
    image: bytes
    prompt: str | None
    upload: Upload | None  # the multipart file; None when the image came as JSON base64


def _multipart(request: Request, limit: int) -> None:
    if sniffing.base_type(request.content_type) != "multipart/form-data":
        raise UnsupportedMediaType("Send the body as multipart/form-data.")
    request.max_content_length = limit + FORM_OVERHEAD


def _shown(text: str) -> str:
    """A client's field name or declared type as a message quotes it: cut short, since it may be megabytes long."""
    return text if len(text) <= 64 else text[:64] + "…"


def _form_fields(request: Request, allowed: set[str], files: set[str]) -> dict[str, str]:
    unknown = sorted((set(request.form) - allowed) | (set(request.files) - files))
    if unknown:
        raise BadRequest(f"Unknown form field '{_shown(unknown[0])}'; send only {_listed(allowed | files)}.")
    return {key: request.form[key] for key in request.form}


def _file(request: Request, name: str, limit: int) -> Upload:
    upload: FileStorage | None = request.files.get(name)
    if upload is None:
        raise BadRequest(f"The '{name}' file is required; add it to the form.")
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(f"'{name}' file", limit)
    if not data:
        raise BadRequest(f"The '{name}' file is empty; send one with content.")
    return Upload(name=name, filename=upload.filename, content_type=upload.mimetype, data=data)


def _too_large(what: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The {what} is larger than {limit / MIB:g} MiB; send a smaller one.")


def parse_voice_fields(request: Request, config: Config) -> VoiceFields:
    """The form's text fields (the audio is read by `parse_audio_upload`, after the route has found the session)."""
    _multipart(request, config.max_audio_bytes)
    fields = _form_fields(request, VOICE_FIELDS, {"audio"})
    sid = fields.get("session_id")
    return VoiceFields(
        prompt=text_field("prompt", fields.get("prompt") or None, required=False, max_chars=config.max_prompt_chars),
        return_audio=parse_bool_field("return_audio", fields.get("return_audio")),
        session_id=session_id(sid) if sid else None,
    )


def parse_transcribe_fields(request: Request, config: Config) -> TranscribeFields:
    """/transcribe's form: `audio` (read by `parse_audio_upload`) and an optional `language` hint (empty: none)."""
    _multipart(request, config.max_audio_bytes)
    language = _form_fields(request, TRANSCRIBE_FIELDS, {"audio"}).get("language") or None
    if language is not None and not LANGUAGE_RE.fullmatch(language):
        raise BadRequest("Send 'language' as a language tag like 'ja' or 'en-US' (at most 16 letters and '-').")
    return TranscribeFields(language=language)


def parse_audio_upload(request: Request, config: Config) -> Upload:
    """The `audio` file: present, within MAX_UPLOAD_MB, of a type the worker decodes, and (for WAV, whose header
    says it) within MAX_AUDIO_SECONDS."""
    upload = _file(request, "audio", config.max_audio_bytes)
    if not sniffing.audio_type_accepted(upload.content_type, upload.filename, upload.data):
        declared = sniffing.base_type(upload.content_type)
        raise UnsupportedMediaType(f"'{_shown(declared) or 'unknown'}' is not a supported audio type; "
                                   f"send {sniffing.AUDIO_FORMATS_TEXT}.")
    if sniffing.sniff_audio(upload.data) == "wav":
        duration = sniffing.wav_duration_s(upload.data)
        if duration is not None and duration > config.max_audio_seconds:
            raise BadRequest(f"The audio is {duration:.0f} s long; send at most {config.max_audio_seconds:g} s.")
    return upload


def check_image(data: bytes, declared: str, max_pixels: int) -> None:
    """What the image is (its bytes, against what it claims to be) and, from its header, its pixel count."""
    kind = sniffing.sniff_image(data)
    if declared not in sniffing.GENERIC_TYPES and declared not in sniffing.IMAGE_TYPES:
        raise UnsupportedMediaType(f"'{_shown(declared)}' is not a supported image type; "
                                   f"send {sniffing.IMAGE_FORMATS_TEXT}.")
    if kind is None:
        if declared in sniffing.IMAGE_TYPES:
            raise UnprocessableMedia(f"The file claims to be '{declared}' but is not; send the file itself.")
        raise UnsupportedMediaType(f"The file is not a PNG, JPEG, WebP or PDF; send {sniffing.IMAGE_FORMATS_TEXT}.")
    if kind == "pdf":
        return
    try:
        width, height = sniffing.image_size(kind, data)
    except sniffing.MediaError as exc:
        raise UnprocessableMedia(f"The {kind.upper()} image cannot be read ({exc}); send an intact file.") from None
    if width * height > max_pixels:
        raise BadRequest(f"The image has {width}x{height} pixels; send at most {max_pixels / 1_000_000:g} megapixels.")
    if width == 0 or height == 0:
        raise UnprocessableMedia("The image has no pixels; send one with content.")
    if max(width, height) > sniffing.MAX_ASPECT_RATIO * min(width, height):
        raise BadRequest(f"The image is {width}x{height} pixels, more elongated than {sniffing.MAX_ASPECT_RATIO}:1; "
                         "send the form itself.")
    if kind == "jpeg" and (scans := sniffing.jpeg_scans(data)) > sniffing.MAX_JPEG_SCANS:
        raise UnprocessableMedia(f"The JPEG image has {scans} scans, more than the {sniffing.MAX_JPEG_SCANS} any "
                                 "encoder writes; send it re-saved, or as a PNG.")


def parse_detect(request: Request, config: Config) -> DetectInput:
    """Multipart `image` (+ `prompt`), or JSON `{"image_base64", "prompt"?}`; anything else is 415."""
    limit = config.max_image_bytes
    if sniffing.base_type(request.content_type) == "multipart/form-data":
        _multipart(request, limit)
        fields = _form_fields(request, {"prompt"}, {"image"})
        prompt = text_field("prompt", fields.get("prompt") or None, required=False, max_chars=config.max_prompt_chars)
        upload = _file(request, "image", limit)
        check_image(upload.data, sniffing.base_type(upload.content_type), config.max_image_pixels)
        return DetectInput(image=upload.data, prompt=prompt, upload=upload)
    if request.is_json:
        request.max_content_length = limit * 4 // 3 + FORM_OVERHEAD
        body = _object(read_json(request), {"image_base64", "prompt"})
        prompt = text_field("prompt", body.get("prompt"), required=False, max_chars=config.max_prompt_chars)
        data = decode_base64("image_base64", body.get("image_base64"), limit)
        if len(data) > limit:
            raise _too_large("image", limit)
        check_image(data, "", config.max_image_pixels)
        return DetectInput(image=data, prompt=prompt, upload=None)
    raise UnsupportedMediaType("Send multipart/form-data with an 'image' file, or JSON with 'image_base64'.")


# -- response bodies (docs/api.md, llm-api part) ---------------------------------------------------------------
class ErrorDetail(TypedDict):
    code: str
    message: str
    request_id: str


class ErrorBody(TypedDict):
    error: ErrorDetail


class Timings(TypedDict):
    """A chat answer's timings; a value the backend does not give is None."""

    total_ms: float | None
    load_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_per_s: float | None
    first_token_ms: float | None


class AskResponse(TypedDict):
    answer: str
    model: str
    session_id: str
    message_id: str
    timings: Timings


class StreamStart(TypedDict):
    type: Literal["start"]
    session_id: str
    model: str
    message_id: str


class StreamToken(TypedDict):
    type: Literal["token"]
    text: str


class StreamDone(TypedDict):
    type: Literal["done"]
    answer: str
    timings: Timings


class ModelEntry(TypedDict):
    name: str
    backend: Literal["ollama", "worker", "openai"]
    size_bytes: int | None
    capabilities: list[str]
    state: Literal["ready", "loading", "not_pulled", "failed"]
    provider: NotRequired[str]  # openai: the backend's configured name
    reason: NotRequired[str | None]  # openai: why the backend is failed


class BackendEntry(TypedDict):
    """An OpenAI-compatible backend of OPENAI_BACKENDS: listed even when it has no model to show."""

    name: str
    kind: Literal["openai"]
    state: Literal["ready", "failed"]
    reason: str | None


class ModelsResponse(TypedDict):
    models: list[ModelEntry]
    default: str
    backends: list[BackendEntry]


class PullProgress(TypedDict):
    type: Literal["progress"]
    status: str
    completed: int | None
    total: int | None


class PullDone(TypedDict):
    type: Literal["done"]


class SessionSummary(TypedDict):
    id: str
    title: str
    created_at: str
    updated_at: str
    message_count: int


class SessionsResponse(TypedDict):
    sessions: list[SessionSummary]


class StoredMessage(TypedDict):
    id: str
    role: Literal["user", "assistant"]
    content: str
    model: str | None
    created_at: str
    timings: dict[str, Any] | None


class SessionDetail(TypedDict):
    id: str
    title: str
    created_at: str
    messages: list[StoredMessage]


class SpokenAudio(TypedDict):
    format: Literal["wav"]
    sample_rate: int
    base64: str


class VoiceFeedbackResponse(TypedDict):
    """The worker's answer, passed through as it came (the worker may add fields, e.g. `audio.truncated`)."""

    feedback: str
    transcript: str | None
    audio: SpokenAudio | None
    model: str
    duration_s: float
    timings: dict[str, Any]


class TranscribeResponse(TypedDict):
    """The worker's transcript, passed through as it came (`transcript` is "" when nothing was said)."""

    transcript: str
    model: str
    duration_s: float
    timings: dict[str, Any]


class Box(TypedDict):
    bbox_normalized: list[int]
    bbox_pixel: list[int]


class DetectFieldsResponse(TypedDict):
    """The worker's detection, passed through as it came."""

    bboxes: list[Box]
    count: int
    raw_output: str
    image_size: dict[str, int]
    model: str
    timings: dict[str, Any]


class HealthResponse(TypedDict):
    status: Literal["ok"]


class Check(TypedDict, total=False):
    """One dependency in /readyz: `status` and `latency_ms` always; the rest as the dependency says."""

    status: Literal["up", "down", "loading", "off"]  # off: Ollama turned off (OLLAMA_URL=none)
    latency_ms: float
    error: str
    version: str  # ollama
    models: dict[str, Any]  # worker: each model's state
    details: dict[str, dict[str, Any]]  # worker: what each model holds, as the worker measured it


class ReadyResponse(TypedDict):
    status: Literal["ready", "degraded", "unavailable"]
    checks: dict[str, Any]  # ollama, worker, database: a Check each; backends: a Check per backend name
