"""The routes the model-worker answers: `POST /voice-feedback` (→ worker `/omni/feedback`, and the exchange stored in
the caller's session), `POST /transcribe` (→ worker `/omni/transcribe`, never stored) and `POST /detect-fields`
(→ worker `/detect`). The uploads are validated here first, in `schemas` (presence 400, type 415, size 413, limits
400), so the worker only sees what it can take."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, g, jsonify, request

from ..schemas import (
    OMNI_MODEL,
    DetectFieldsResponse,
    DetectInput,
    TranscribeResponse,
    VoiceFeedbackResponse,
    parse_audio_upload,
    parse_detect,
    parse_transcribe_fields,
    parse_voice_fields,
    session_not_found,
)
from ..services import services
from ..store import Message, new_id

bp = Blueprint("worker_proxy", __name__)
AUDIO_MARKER = "[audio]"


@bp.post("/voice-feedback")
def voice_feedback():
    svc = services()
    fields = parse_voice_fields(request, svc.config)
    if fields.session_id is not None and svc.store.history(fields.session_id) is None:
        raise session_not_found(fields.session_id)
    audio = parse_audio_upload(request, svc.config)

    form = {"return_audio": "true" if fields.return_audio else "false"}
    if fields.prompt is not None:
        form["prompt"] = fields.prompt
    result = svc.worker.feedback({"audio": audio.as_file()}, form, g.request_id)
    if fields.session_id is not None:
        _store_feedback(fields.session_id, fields.prompt, result)
    return jsonify(result)


@bp.post("/transcribe")
def transcribe():
    """The words of one recording (a Talk page turn): the same upload checks as /voice-feedback; nothing stored."""
    svc = services()
    fields = parse_transcribe_fields(request, svc.config)
    audio = parse_audio_upload(request, svc.config)
    form = {} if fields.language is None else {"language": fields.language}
    result: TranscribeResponse = svc.worker.transcribe({"audio": audio.as_file()}, form, g.request_id)
    return jsonify(result)


def _store_feedback(sid: str, prompt: str | None, result: VoiceFeedbackResponse) -> None:
    """Stored under the name /models and /ask-llm use for the worker's Omni model, like an omni chat turn."""
    timings = result.get("timings") if isinstance(result.get("timings"), dict) else None
    user = Message(new_id(), "user", AUDIO_MARKER if prompt is None else f"{AUDIO_MARKER} {prompt}", OMNI_MODEL)
    assistant = Message(new_id(), "assistant", result["feedback"], OMNI_MODEL, timings)
    services().store.add_exchange(sid, user, assistant, create=False)


def _worker_payload(detect: DetectInput) -> dict[str, Any]:
    """A multipart upload goes on as multipart (its filename and type kept), a JSON one as JSON."""
    if detect.upload is not None:
        return {"files": {"image": detect.upload.as_file()},
                "data": {} if detect.prompt is None else {"prompt": detect.prompt}}
    return {"json": {"image_base64": base64.b64encode(detect.image).decode(),
                     **({} if detect.prompt is None else {"prompt": detect.prompt})}}


@bp.post("/detect-fields")
def detect_fields():
    svc = services()
    result: DetectFieldsResponse = svc.worker.detect(g.request_id, **_worker_payload(parse_detect(request, svc.config)))
    return jsonify(result)
