"""Request schemas, validated at the edge: each parser turns a Flask request into a typed request or raises a
contract error (400/413/415/422)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from flask import Request

from .config import WorkerConfig
from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from .generation import SamplingOptions

ROLES = ("system", "user", "assistant")
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
        raise UnsupportedMediaType("send the request body as application/json")
    if max_bytes is not None:
        request.max_content_length = max_bytes
        if request.content_length is None and len(request.get_data(cache=True)) >= max_bytes and _body_continues(
            request
        ):
            # a chunked body is cut at the limit by werkzeug: it was too large if more of it is still to come
            raise PayloadTooLarge(f"the JSON body is larger than {max_bytes} bytes")
    try:
        data = request.get_json(silent=True)
        # JSON allows "\ud800" escapes that decode to lone surrogates, which no tokenizer or UTF-8 output takes
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest("the body's JSON is nested too deeply") from None
    except UnicodeEncodeError:
        raise BadRequest("the body contains an invalid Unicode escape (an unpaired surrogate)") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _optional_text(value, name: str, config: WorkerConfig) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if len(value) > config.max_prompt_chars:
        raise BadRequest(f"{name} is longer than {config.max_prompt_chars} characters")
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
        raise BadRequest(f"options.{key} must be {'an integer' if integer else 'a number'}")
    if not low <= value <= high:
        raise BadRequest(f"options.{key} must be between {low} and {high}")
    return value


def parse_chat(data: dict, config: WorkerConfig) -> ChatInput:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list of {role, content}")
    clean = []
    total = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(
            message.get("content"), str
        ):
            raise BadRequest(f"messages[{index}] must be {{role: system|user|assistant, content: string}}")
        total += len(message["content"])
        clean.append({"role": message["role"], "content": message["content"]})
    if total > config.max_prompt_chars:
        raise BadRequest(f"the messages are longer than {config.max_prompt_chars} characters in all")
    if clean[-1]["role"] != "user" or not clean[-1]["content"].strip():
        raise BadRequest("the last message must be a non-blank user message")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise BadRequest("options must be an object")
    seed = options.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("options.seed must be an integer")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("stream must be a boolean")
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
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data with an audio file field named 'audio'")
    upload = request.files.get("audio")
    if upload is None:
        raise BadRequest("the form has no file field named 'audio'")
    data = upload.read(config.max_audio_bytes + 1)
    if len(data) > config.max_audio_bytes:
        raise PayloadTooLarge(f"the audio file is larger than {config.max_audio_bytes // (1024 * 1024)} MiB")
    raw_flag = (request.form.get("return_audio") or "false").strip().lower()
    if raw_flag not in _BOOLEAN_FORM:
        raise BadRequest("return_audio must be true or false")
    return FeedbackInput(
        audio_bytes=data,
        content_type=upload.mimetype,
        filename=upload.filename,
        prompt=_optional_text(request.form.get("prompt"), "prompt", config),
        return_audio=_BOOLEAN_FORM[raw_flag],
    )


# -- /detect and the cloud routes -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectInput:
    image_bytes: bytes
    prompt: str | None


_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,", re.IGNORECASE)


def decode_base64_image(value, config: WorkerConfig, field: str = "image_base64") -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} must be a non-empty base64 string")
    if len(value) > config.max_image_bytes * 4 // 3 + 8:
        raise PayloadTooLarge(f"the image is larger than {config.max_image_bytes // (1024 * 1024)} MiB")
    text = _DATA_URL.sub("", value.strip(), count=1)
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field} is not valid base64") from None
    if len(data) > config.max_image_bytes:
        raise PayloadTooLarge(f"the image is larger than {config.max_image_bytes // (1024 * 1024)} MiB")
    return data


def parse_detect(request: Request, config: WorkerConfig) -> DetectInput:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is None:
            raise BadRequest("the form has no file field named 'image'")
        data = upload.read(config.max_image_bytes + 1)
        if len(data) > config.max_image_bytes:
            raise PayloadTooLarge(f"the image is larger than {config.max_image_bytes // (1024 * 1024)} MiB")
        return DetectInput(image_bytes=data, prompt=_optional_text(request.form.get("prompt"), "prompt", config))
    if request.is_json:
        data = json_body(request)
        return DetectInput(
            image_bytes=decode_base64_image(data.get("image_base64"), config),
            prompt=_optional_text(data.get("prompt"), "prompt", config),
        )
    raise UnsupportedMediaType("send multipart/form-data with an 'image' file, or JSON {\"image_base64\"}")
