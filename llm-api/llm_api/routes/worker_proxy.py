"""The worker routes: `POST /voice-feedback` (→ worker `/omni/feedback`) and `POST /detect-fields`
(→ worker `/detect`). Uploads are checked here first: presence (400), type (415), size (413), limits (400)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, g, jsonify, request
from werkzeug.datastructures import FileStorage

from ..config import MAX_AUDIO_SECONDS, MAX_IMAGE_PIXELS, MIB
from ..errors import ApiError, bad_request
from ..media import (
    AUDIO_TYPES,
    GENERIC_TYPES,
    IMAGE_TYPES,
    MediaError,
    base_type,
    image_size,
    sniff_audio,
    sniff_image,
    wav_duration_s,
)
from ..schemas import OMNI_MODEL, decode_base64, parse_bool_field, read_json, session_id, text_field
from ..services import services
from ..store import Message, new_id

bp = Blueprint("media", __name__)
FORM_OVERHEAD = 1 * MIB
VOICE_FIELDS = {"prompt", "return_audio", "session_id"}
AUDIO_MARKER = "[audio]"


def _too_large(what: str, limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The {what} is larger than {limit // MIB} MiB.")


def _multipart(limit: int) -> None:
    if base_type(request.content_type) != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "The body must be multipart/form-data.")
    request.max_content_length = limit + FORM_OVERHEAD


def _form_fields(allowed: set[str], files: set[str]) -> dict[str, str]:
    form = request.form
    unknown = sorted((set(form) - allowed) | (set(request.files) - files))
    if unknown:
        raise bad_request(f"Unknown form field '{unknown[0]}'.")
    return {key: form[key] for key in form}


def _file(name: str, limit: int) -> tuple[FileStorage, bytes]:
    upload = request.files.get(name)
    if upload is None:
        raise bad_request(f"The '{name}' file is required.")
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(f"'{name}' file", limit)
    if not data:
        raise bad_request(f"The '{name}' file is empty.")
    return upload, data


@bp.post("/voice-feedback")
def voice_feedback():
    svc = services()
    limit = svc.config.max_audio_bytes
    _multipart(limit)
    fields = _form_fields(VOICE_FIELDS, {"audio"})
    prompt = text_field("prompt", fields.get("prompt") or None, required=False)
    return_audio = parse_bool_field("return_audio", fields.get("return_audio"))
    sid = session_id(fields["session_id"]) if fields.get("session_id") else None
    if sid is not None and svc.store.history(sid) is None:
        raise ApiError(404, "not_found", f"Session '{sid}' does not exist.")
    upload, data = _file("audio", limit)
    declared, kind = base_type(upload.mimetype), sniff_audio(data)
    if declared not in AUDIO_TYPES and not (declared in GENERIC_TYPES and kind is not None):
        raise ApiError(415, "unsupported_media_type", f"'{declared or 'unknown'}' is not a supported audio type "
                       "(WAV, FLAC, OGG/Opus, WebM/Opus, MP3, M4A/AAC).")
    if kind == "wav" and (duration := wav_duration_s(data)) is not None and duration > MAX_AUDIO_SECONDS:
        raise bad_request(f"The audio is {duration:.0f} s long; at most {MAX_AUDIO_SECONDS:.0f} s is accepted.")

    form = {"return_audio": "true" if return_audio else "false"}
    if prompt is not None:
        form["prompt"] = prompt
    files = {"audio": (upload.filename or "audio", data, upload.mimetype or "application/octet-stream")}
    result = svc.worker.feedback(files, form, g.request_id)
    if not isinstance(result.get("feedback"), str):
        raise svc.worker.upstream.fail(502, "backend_error", "The model-worker's feedback has no 'feedback'.",
                                       g.request_id)
    if sid is not None:
        _store_feedback(sid, prompt, result)
    return jsonify(result)


def _store_feedback(sid: str, prompt: str | None, result: dict[str, Any]) -> None:
    # Stored under the name /models and /ask-llm use for the worker's Omni model, like an omni chat turn.
    model = OMNI_MODEL
    timings = result.get("timings") if isinstance(result.get("timings"), dict) else None
    user = Message(new_id(), "user", AUDIO_MARKER if prompt is None else f"{AUDIO_MARKER} {prompt}", model)
    assistant = Message(new_id(), "assistant", result["feedback"], model, timings)
    services().store.add_exchange(sid, user, assistant, create=False)


def _check_image(data: bytes, declared: str) -> None:
    kind = sniff_image(data)
    if declared not in GENERIC_TYPES and declared not in IMAGE_TYPES:
        raise ApiError(415, "unsupported_media_type", f"'{declared}' is not a supported image type "
                       "(PNG, JPEG, WebP, PDF).")
    if kind is None:
        if declared in IMAGE_TYPES:
            raise ApiError(422, "unprocessable_media", f"The file claims to be '{declared}' but is not.")
        raise ApiError(415, "unsupported_media_type", "The file is not a PNG, JPEG, WebP or PDF.")
    if kind == "pdf":
        return
    try:
        width, height = image_size(kind, data)
    except MediaError as exc:
        raise ApiError(422, "unprocessable_media", f"The {kind.upper()} image cannot be read ({exc}).") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise bad_request(f"The image has {width}x{height} pixels; at most "
                          f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels are accepted.")
    if width == 0 or height == 0:
        raise ApiError(422, "unprocessable_media", "The image has no pixels.")


@bp.post("/detect-fields")
def detect_fields():
    svc = services()
    limit = svc.config.max_image_bytes
    if base_type(request.content_type) == "multipart/form-data":
        _multipart(limit)
        fields = _form_fields({"prompt"}, {"image"})
        prompt = text_field("prompt", fields.get("prompt") or None, required=False)
        upload, data = _file("image", limit)
        _check_image(data, base_type(upload.mimetype))
        payload: dict[str, Any] = {
            "files": {"image": (upload.filename or "image", data, upload.mimetype or "application/octet-stream")},
            "data": {} if prompt is None else {"prompt": prompt},
        }
    elif request.is_json:
        request.max_content_length = limit * 4 // 3 + FORM_OVERHEAD
        body = read_json(request)
        if not isinstance(body, dict):
            raise bad_request("The body must be a JSON object.")
        unknown = sorted(set(body) - {"image_base64", "prompt"})
        if unknown:
            raise bad_request(f"Unknown field '{unknown[0]}'.")
        prompt = text_field("prompt", body.get("prompt"), required=False)
        data = decode_base64("image_base64", body.get("image_base64"), limit)
        if len(data) > limit:
            raise _too_large("image", limit)
        _check_image(data, "")
        payload = {"json": {"image_base64": base64.b64encode(data).decode(),
                            **({} if prompt is None else {"prompt": prompt})}}
    else:
        raise ApiError(415, "unsupported_media_type",
                       "Send multipart/form-data with an 'image' file, or JSON with 'image_base64'.")
    return jsonify(svc.worker.detect(g.request_id, **payload))
