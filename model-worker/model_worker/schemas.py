"""The worker's HTTP shapes in one module: request parsers, validated at the edge (each turns a Flask request into
a typed input or raises a contract error, 400/413/415/422), and the response bodies as TypedDicts, so a route's
answer has one declared shape that docs/api.md can be checked against."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from flask import Request

from .config import WorkerConfig
from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from .generation import SamplingOptions

ROLES = ("system", "user", "assistant")
LANGUAGE_RE = re.compile(r"[A-Za-z-]{1,16}")  # a BCP-47-ish hint: `ja`, `en`, `en-US`
_BOOLEAN_FORM = {
    "true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False,
}


def _body_continues(request: Request) -> bool:
    """Whether the client sent more body than werkzeug let through (a chunked body read up to the limit)."""
    try:
        return bool(request.environ["wsgi.input"].read(1))
    except (OSError, ValueError):
        return True


def json_body(request: Request, max_bytes: int | None = None) -> dict:
    """The JSON object of the body; `max_bytes` lowers the body limit (413) for a route that takes no upload."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the request body as JSON (Content-Type: application/json).")
    if max_bytes is not None:
        request.max_content_length = max_bytes
        if request.content_length is None and len(request.get_data(cache=True)) >= max_bytes and _body_continues(
            request
        ):
            # a chunked body is cut at the limit by werkzeug: it was too large if more of it is still to come
            raise PayloadTooLarge(f"The JSON body is larger than {max_bytes} bytes; send a shorter one.")
    try:
        data = request.get_json(silent=True)
        # JSON allows "\ud800" escapes that decode to lone surrogates, which no tokenizer or UTF-8 output takes
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest("The body's JSON is nested too deeply; send a flatter object.") from None
    except UnicodeEncodeError:
        raise BadRequest(
            "The body contains an invalid Unicode escape (an unpaired surrogate); send valid UTF-8 text."
        ) from None
    if not isinstance(data, dict):
        raise BadRequest("Send the body as a JSON object.")
    return data


def _too_large(what: str, limit: int) -> str:
    return f"The {what} is larger than {limit / (1024 * 1024):g} MiB; send a smaller one."


def _optional_text(value, name: str, config: WorkerConfig) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Send {name} as a string.")
    if len(value) > config.max_prompt_chars:
        raise BadRequest(f"The {name} is longer than {config.max_prompt_chars} characters; send a shorter one.")
    return value.strip() or None


# -- /omni/chat ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChatInput:
    messages: list[dict]
    options: SamplingOptions
    stream: bool


def _number(options: dict, key: str, low: float, high: float, integer: bool = False):
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise BadRequest(f"Send options.{key} as {'an integer' if integer else 'a number'}.")
    if not low <= value <= high:
        raise BadRequest(f"Send options.{key} between {low} and {high}.")
    return value if integer else float(value)  # transformers takes a temperature of 1.0, not of 1


def parse_chat(data: dict, config: WorkerConfig) -> ChatInput:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("Send messages as a non-empty list of {role, content}.")
    clean = []
    total = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(
            message.get("content"), str
        ):
            raise BadRequest(f"Send messages[{index}] as {{role: system|user|assistant, content: string}}.")
        total += len(message["content"])
        clean.append({"role": message["role"], "content": message["content"]})
    if total > config.max_prompt_chars:
        raise BadRequest(
            f"The messages are longer than {config.max_prompt_chars} characters in all; send a shorter history."
        )
    if clean[-1]["role"] != "user" or not clean[-1]["content"].strip():
        raise BadRequest("End messages with a non-blank user message.")
    options = data.get("options")
    options = {} if options is None else options  # absent or null; `false`, 0, "" or [] are not options: 400
    if not isinstance(options, dict):
        raise BadRequest("Send options as an object.")
    seed = options.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("Send options.seed as an integer.")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("Send stream as true or false.")
    return ChatInput(
        messages=clean,
        options=SamplingOptions(
            temperature=_number(options, "temperature", 0, 2),
            top_p=_number(options, "top_p", 0, 1),
            max_tokens=_number(options, "max_tokens", 1, 8192, integer=True),
            seed=None if seed is None else seed % (2**63),
        ),
        stream=stream,
    )


# -- /omni/feedback --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedbackInput:
    audio_bytes: bytes
    content_type: str | None
    filename: str | None
    prompt: str | None
    return_audio: bool


def parse_feedback(request: Request, config: WorkerConfig) -> FeedbackInput:
    data, content_type, filename = _audio_upload(request, config)
    raw_flag = (request.form.get("return_audio") or "false").strip().lower()
    if raw_flag not in _BOOLEAN_FORM:
        raise BadRequest("Send return_audio as true or false.")
    return FeedbackInput(
        audio_bytes=data,
        content_type=content_type,
        filename=filename,
        prompt=_optional_text(request.form.get("prompt"), "prompt", config),
        return_audio=_BOOLEAN_FORM[raw_flag],
    )


def _audio_upload(request: Request, config: WorkerConfig) -> tuple[bytes, str | None, str | None]:
    """The form's `audio` file (bytes, declared type, filename): 415 unless multipart, 400 without it, 413 over the
    upload limit; what it holds is checked when it is decoded (media.py)."""
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Send multipart/form-data with an audio file in a field named 'audio'.")
    upload = request.files.get("audio")
    if upload is None:
        raise BadRequest("The form has no file field named 'audio'; add the recording there.")
    data = upload.read(config.max_audio_bytes + 1)
    if len(data) > config.max_audio_bytes:
        raise PayloadTooLarge(_too_large("audio file", config.max_audio_bytes))
    return data, upload.mimetype, upload.filename


# -- /omni/transcribe ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TranscribeInput:
    audio_bytes: bytes
    content_type: str | None
    filename: str | None
    language: str | None


def parse_language(value: str | None) -> str | None:
    """The optional `language` hint: empty or absent is none; else 1-16 letters and `-` (400 otherwise)."""
    if value is None or value == "":
        return None
    if not LANGUAGE_RE.fullmatch(value):
        raise BadRequest("Send language as a language tag like 'ja' or 'en-US' (at most 16 letters and '-').")
    return value


def parse_transcribe(request: Request, config: WorkerConfig) -> TranscribeInput:
    data, content_type, filename = _audio_upload(request, config)
    return TranscribeInput(audio_bytes=data, content_type=content_type, filename=filename,
                           language=parse_language(request.form.get("language")))


# -- /detect and the cloud routes -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectInput:
    image_bytes: bytes
    prompt: str | None
    content_type: str | None = None  # what a multipart upload declared; None for base64 and raw bodies


_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,", re.IGNORECASE)


def decode_base64_image(value, config: WorkerConfig, field: str = "image_base64") -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"Send {field} as a non-empty base64 string.")
    if len(value) > config.max_image_bytes * 4 // 3 + 8:
        raise PayloadTooLarge(_too_large("image", config.max_image_bytes))
    text = _DATA_URL.sub("", value.strip(), count=1)
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field} is not valid base64; send the file's bytes base64-encoded.") from None
    if len(data) > config.max_image_bytes:
        raise PayloadTooLarge(_too_large("image", config.max_image_bytes))
    return data


def _image_bytes(data: bytes, config: WorkerConfig) -> bytes:
    if len(data) > config.max_image_bytes:
        raise PayloadTooLarge(_too_large("image", config.max_image_bytes))
    return data


def parse_detect(request: Request, config: WorkerConfig) -> DetectInput:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is None:
            raise BadRequest("The form has no file field named 'image'; add the form image there.")
        data = _image_bytes(upload.read(config.max_image_bytes + 1), config)
        prompt = _optional_text(request.form.get("prompt"), "prompt", config)
        return DetectInput(image_bytes=data, prompt=prompt, content_type=upload.mimetype)
    if request.is_json:
        data = json_body(request)
        return DetectInput(
            image_bytes=decode_base64_image(data.get("image_base64"), config),
            prompt=_optional_text(data.get("prompt"), "prompt", config),
        )
    raise UnsupportedMediaType("Send multipart/form-data with an 'image' file, or JSON {\"image_base64\"}.")


def _cloud_prompt(value) -> str | None:
    """The managed-cloud routes take a prompt leniently (their callers are platform SDKs): a non-blank string or
    nothing, never a 400."""
    return value if isinstance(value, str) and value.strip() else None


def parse_sagemaker(request: Request, config: WorkerConfig) -> DetectInput:
    """`POST /invocations`: the raw image or PDF bytes (`image/*`, `application/pdf`), or `{"inputs": "<base64>",
    "parameters": {"prompt"}}`."""
    if request.mimetype.startswith("image/") or request.mimetype == "application/pdf":
        return DetectInput(image_bytes=_image_bytes(request.get_data(), config), prompt=None)
    body = json_body(request)
    parameters = body.get("parameters") or {}
    prompt = parameters.get("prompt") if isinstance(parameters, dict) else None
    return DetectInput(decode_base64_image(body.get("inputs"), config, field="inputs"), _cloud_prompt(prompt))


def parse_vertex(request: Request, config: WorkerConfig) -> list[DetectInput]:
    """Vertex AI's predict body: `{"instances": [{"image_base64", "prompt"?}, ...]}`."""
    instances = json_body(request).get("instances")
    if not isinstance(instances, list) or not instances:
        raise BadRequest('Send instances as a non-empty list of {"image_base64"}.')
    inputs = []
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise BadRequest(f'Send instances[{index}] as an object {{"image_base64"}}.')
        image = decode_base64_image(instance.get("image_base64"), config, field=f"instances[{index}].image_base64")
        inputs.append(DetectInput(image_bytes=image, prompt=_cloud_prompt(instance.get("prompt"))))
    return inputs


def parse_azure(request: Request, config: WorkerConfig) -> DetectInput:
    """Azure ML's `POST /score`: `{"image_base64", "prompt"?}`."""
    body = json_body(request)
    prompt = _cloud_prompt(body.get("prompt"))
    return DetectInput(image_bytes=decode_base64_image(body.get("image_base64"), config), prompt=prompt)


# -- response bodies (docs/api.md, model-worker part) -----------------------------------------------------------
class ErrorDetail(TypedDict):
    code: str
    message: str
    request_id: str


class ErrorBody(TypedDict):
    error: ErrorDetail


class HealthResponse(TypedDict):
    status: Literal["ok"]


class ModelInfo(TypedDict):
    """One model's readiness, measured from its loaded parameters (`ModelSlot.info`)."""

    state: Literal["disabled", "loading", "ready", "failed"]
    name: str
    device: str | None
    dtype: str | None
    memory_bytes: int | None
    bytes_by_dtype: dict[str, int] | None
    error: str | None


class ReadyResponse(TypedDict):
    models: dict[str, ModelInfo]


class DetectorStatus(TypedDict):
    """`GET /ping` and Vertex AI's health route: the detector alone."""

    status: str  # "ok", or the detector's state
    detector: ModelInfo


class Box(TypedDict):
    bbox_normalized: list[int]
    bbox_pixel: list[int]


class ImageSize(TypedDict):
    width: int
    height: int


class DetectTimings(TypedDict):
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    total_ms: NotRequired[float]  # added by the service: request received to answer ready


class DetectionResponse(TypedDict):
    bboxes: list[Box]
    count: int
    raw_output: str
    image_size: ImageSize
    model: str
    timings: DetectTimings


class VertexPredictions(TypedDict):
    predictions: list[DetectionResponse]


class SpokenAudio(TypedDict):
    format: Literal["wav"]
    sample_rate: int
    base64: str
    truncated: bool  # the talker's code budget cut the speech


class FeedbackTimings(TypedDict):
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    feedback_ms: float
    transcript_ms: float | None
    total_ms: NotRequired[float]


class FeedbackResponse(TypedDict):
    feedback: str
    transcript: str | None
    audio: SpokenAudio | None
    model: str
    duration_s: float
    timings: FeedbackTimings


class TranscribeTimings(TypedDict):
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    total_ms: NotRequired[float]


class TranscribeResponse(TypedDict):
    transcript: str  # "" when nothing was said
    model: str
    duration_s: float
    timings: TranscribeTimings


class ChatTimings(TypedDict):
    total_ms: float
    load_ms: None
    prompt_tokens: int
    completion_tokens: int
    tokens_per_s: float | None
    first_token_ms: float | None


class ChatResponse(TypedDict):
    answer: str
    timings: ChatTimings


class ChatStart(TypedDict):
    """The first line of a streamed chat; `token` lines (`{"type", "text"}`) and a `done` line (`{"type", "answer",
    "timings"}`) follow, or a final `error` line (`{"type": "error", "error": {...}}`)."""

    type: Literal["start"]
    model: str
    request_id: str
