"""What the routes need, reached through `services()`: the config, the two model slots, and the operations the routes
call (readiness, a detection, a feedback, a chat). Routes parse (schemas) → call one operation here → jsonify; they
import nothing from `app.py`, which builds the slots and registers the routes.

The slots live in `app.extensions["model_slots"]` and the config in `app.config["WORKER"]`, read on every call
rather than captured once: tests and benchmarks hand one app's loaded models to another by replacing that dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, stream_with_context

from .chat_stream import ChatStream
from .config import WorkerConfig
from .detector import DetectRequest
from .media import check_audio_type, check_image_type, decode_audio, decode_image
from .omni import ChatRequest, FeedbackRequest, TranscribeRequest
from .schemas import (
    ChatInput,
    ChatResponse,
    DetectInput,
    DetectionResponse,
    DetectorStatus,
    FeedbackInput,
    FeedbackResponse,
    ReadyResponse,
    TranscribeInput,
    TranscribeResponse,
)
from .slot import ModelSlot

NDJSON_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class Services:
    config: WorkerConfig
    slots: Mapping[str, ModelSlot]

    # -- health ----------------------------------------------------------------------------------------------
    def readiness(self) -> tuple[ReadyResponse, bool]:
        """Every model's entry, and whether all enabled ones are ready (a disabled model never holds this up)."""
        models = {key: slot.info() for key, slot in self.slots.items()}
        ready = all(slot.state == "ready" for slot in self.slots.values() if slot.enabled)
        return ReadyResponse(models=models), ready

    def detector_status(self) -> tuple[DetectorStatus, bool]:
        """The cloud platforms' health checks ask about the detector only (the image serves it there)."""
        slot = self.slots["detector"]
        ready = slot.state == "ready"
        return DetectorStatus(status="ok" if ready else slot.state, detector=slot.info()), ready

    # -- detector --------------------------------------------------------------------------------------------
    def detect(self, detect_input: DetectInput, started: float) -> DetectionResponse:
        """Queue and run one detection (/detect and every cloud route). Each detection, also each instance of a
        Vertex AI batch, gets the whole REQUEST_TIMEOUT_S from when it starts."""
        deadline = time.monotonic() + self.config.request_timeout_s
        slot = self.slots["detector"]
        slot.check_available()  # before decoding: a refusal costs the caller no decode
        if detect_input.content_type is not None:
            check_image_type(detect_input.content_type, detect_input.image_bytes)
        image = decode_image(detect_input.image_bytes, self.config.max_image_pixels)
        result = slot.run_pipeline(DetectRequest(image=image, prompt=detect_input.prompt), deadline)
        result["timings"]["total_ms"] = _elapsed_ms(started)
        return result

    # -- omni ------------------------------------------------------------------------------------------------
    def feedback(self, form: FeedbackInput, started: float) -> FeedbackResponse:
        """Feedback on one recording. The route has read the upload before this refuses (model disabled, loading,
        failed): a body left unread made gunicorn drop the kept-alive connection and fail the caller's next request."""
        deadline = self._deadline(started)
        slot = self.slots["omni"]
        slot.check_available()  # before decoding the audio
        check_audio_type(form.content_type, form.filename, form.audio_bytes)
        audio = decode_audio(form.audio_bytes, self.config.max_audio_seconds)
        request = FeedbackRequest(audio=audio, instruction=form.prompt, return_audio=form.return_audio)
        result = slot.run_pipeline(request, deadline)
        result["timings"]["total_ms"] = _elapsed_ms(started)
        return result

    def transcribe(self, form: TranscribeInput, started: float) -> TranscribeResponse:
        """A transcript of one recording, on the same path as a feedback (refusals before decoding, the omni slot's
        queue and deadline), running only the transcript pass."""
        deadline = self._deadline(started)
        slot = self.slots["omni"]
        slot.check_available()
        check_audio_type(form.content_type, form.filename, form.audio_bytes)
        audio = decode_audio(form.audio_bytes, self.config.max_audio_seconds)
        result = slot.run_pipeline(TranscribeRequest(audio=audio, language=form.language), deadline)
        result["timings"]["total_ms"] = _elapsed_ms(started)
        return result

    def chat(self, chat_input: ChatInput, started: float) -> ChatResponse:
        deadline = self._deadline(started)
        request = ChatRequest(messages=chat_input.messages, options=chat_input.options)
        return self.slots["omni"].run(lambda model: model.chat(request, deadline), deadline)

    def chat_stream(self, chat_input: ChatInput, started: float, request_id: str) -> ChatStream:
        """The model is taken here, so a refusal (disabled, loading, queue full) is still a plain HTTP error."""
        request = ChatRequest(messages=chat_input.messages, options=chat_input.options)
        return ChatStream(self.slots["omni"], self.config.omni_model, request, self._deadline(started), request_id)

    def _deadline(self, started: float) -> float:
        """REQUEST_TIMEOUT_S counted from when the request arrived (`started`, on the perf_counter clock), as a
        time.monotonic() deadline: queue wait and inference share it."""
        return time.monotonic() + self.config.request_timeout_s - (time.perf_counter() - started)


def services() -> Services:
    return Services(config=current_app.config["WORKER"], slots=current_app.extensions["model_slots"])


def build_slots(config: WorkerConfig, loaders: Mapping[str, Callable[[], Any]]) -> dict[str, ModelSlot]:
    """One slot per model, named as /readyz reports it; a model left out of ENABLED_MODELS is `disabled`."""
    adapter = f"+{config.vl_lora_adapter}" if config.vl_lora_adapter else ""
    names = {"omni": config.omni_model, "detector": f"{config.vl_base_model}{adapter}"}
    return {
        key: ModelSlot(
            key, names[key], loaders[key], enabled=key in config.enabled_models,
            queue_size=config.queue_size, retry_after_s=config.retry_after_s,
        )
        for key in ("omni", "detector")
    }


def ndjson_response(lines: Iterator[str], on_close: Callable[[], None]) -> Response:
    """A streamed NDJSON answer; `on_close` runs when it ends or the client goes away (also before it started)."""
    response = Response(stream_with_context(lines), mimetype="application/x-ndjson", headers=NDJSON_HEADERS)
    response.call_on_close(on_close)
    return response


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
