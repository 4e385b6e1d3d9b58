"""`POST /detect`: form-field detection on an uploaded image (multipart `image` or JSON `image_base64`)."""

from __future__ import annotations

import time

from flask import Blueprint, g, jsonify, request

from ..app import slots, worker_config
from ..detector import DetectRequest
from ..media import decode_image
from ..schemas import parse_detect

bp = Blueprint("detect", __name__)


def run_detection(image_bytes: bytes, prompt: str | None) -> dict:
    """Decode, queue and run one detection; shared by /detect and the managed-cloud routes."""
    config = worker_config()
    deadline = time.monotonic() + config.request_timeout_s
    slot = slots()["detector"]
    slot.check_available()
    image = decode_image(image_bytes, config.max_image_pixels)
    result = slot.run_pipeline(DetectRequest(image=image, prompt=prompt), deadline)
    result["timings"]["total_ms"] = round((time.perf_counter() - g.started) * 1000, 1)
    return result


@bp.post("/detect")
def detect():
    detect_input = parse_detect(request, worker_config())
    return jsonify(run_detection(detect_input.image_bytes, detect_input.prompt))
