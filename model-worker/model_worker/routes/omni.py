"""`POST /omni/feedback` (spoken-audio feedback) and `POST /omni/chat` (text chat, JSON or NDJSON stream)."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time

from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from ..app import slots, worker_config
from ..errors import ApiError, error_body
from ..media import check_audio_type, decode_audio
from ..omni import ChatRequest, FeedbackRequest
from ..runtime import is_out_of_memory
from ..schemas import json_body, parse_chat, parse_feedback

log = logging.getLogger(__name__)
bp = Blueprint("omni", __name__, url_prefix="/omni")


@bp.post("/feedback")
def feedback():
    config = worker_config()
    deadline = time.monotonic() + config.request_timeout_s
    slot = slots()["omni"]
    # The upload is read before a refusal (model disabled, loading, failed): the client has sent it anyway, and a
    # body left unread made gunicorn drop the kept-alive connection now and then, failing the caller's next request.
    form = parse_feedback(request, config)
    slot.check_available()  # before decoding the audio
    check_audio_type(form.content_type, form.filename, form.audio_bytes)
    audio = decode_audio(form.audio_bytes, config.max_audio_seconds)
    feedback_request = FeedbackRequest(audio=audio, instruction=form.prompt, return_audio=form.return_audio)
    result = slot.run_pipeline(feedback_request, deadline)
    result["timings"]["total_ms"] = round((time.perf_counter() - g.started) * 1000, 1)
    return jsonify(result)


@bp.post("/chat")
def chat():
    config = worker_config()
    deadline = time.monotonic() + config.request_timeout_s
    chat_input = parse_chat(json_body(request, config.max_json_bytes), config)
    chat_request = ChatRequest(messages=chat_input.messages, options=chat_input.options)
    slot = slots()["omni"]
    if not chat_input.stream:
        return jsonify(slot.run(lambda model: model.chat(chat_request, deadline), deadline))

    # Errors up to here (validation, loading, queue full) are plain HTTP errors; the slot is held until the
    # stream ends or the client goes away.
    stack = contextlib.ExitStack()
    model = stack.enter_context(slot.acquire(deadline))
    request_id = g.request_id
    cancel = threading.Event()

    def lines():
        yield _line({"type": "start", "model": config.omni_model, "request_id": request_id})
        failure: ApiError | None = None
        out_of_memory = False
        try:
            for event in model.chat_stream(chat_request, deadline, cancel):
                yield _line(event)
        except ApiError as exc:
            failure = exc
        except Exception as exc:
            out_of_memory = is_out_of_memory(exc)
            if not out_of_memory:
                log.exception("omni chat stream failed (request %s)", request_id)
                failure = ApiError("the model failed mid-answer")
        finally:
            cancel.set()
            stack.close()  # frees the model for the next request as soon as the stream ends
        if out_of_memory:  # here, with the failed computation's tensors unreferenced
            failure = slot.out_of_memory("during a streamed chat answer")
        if failure is not None:
            yield _line({"type": "error", **error_body(failure.code, failure.message, request_id)})

    response = Response(stream_with_context(lines()), mimetype="application/x-ndjson")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.call_on_close(stack.close)  # also when the stream never started (client gone); idempotent
    return response


def _line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"
