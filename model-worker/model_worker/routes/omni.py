"""`POST /omni/feedback` (spoken-audio feedback), `POST /omni/transcribe` (speech to text) and `POST /omni/chat` (text
chat, JSON or NDJSON stream)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..schemas import (
    ChatResponse,
    FeedbackResponse,
    TranscribeResponse,
    json_body,
    parse_chat,
    parse_feedback,
    parse_transcribe,
)
from ..services import ndjson_response, services

bp = Blueprint("omni", __name__, url_prefix="/omni")


@bp.post("/feedback")
def feedback():
    svc = services()
    body: FeedbackResponse = svc.feedback(parse_feedback(request, svc.config), g.started)
    return jsonify(body)


@bp.post("/transcribe")
def transcribe():
    svc = services()
    body: TranscribeResponse = svc.transcribe(parse_transcribe(request, svc.config), g.started)
    return jsonify(body)


@bp.post("/chat")
def chat():
    svc = services()
    chat_input = parse_chat(json_body(request, svc.config.max_json_bytes), svc.config)
    if not chat_input.stream:
        body: ChatResponse = svc.chat(chat_input, g.started)
        return jsonify(body)
    stream = svc.chat_stream(chat_input, g.started, g.request_id)
    return ndjson_response(stream.lines(), on_close=stream.close)
