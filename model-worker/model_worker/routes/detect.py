"""`POST /detect`: form-field detection on an uploaded image (multipart `image` or JSON `image_base64`)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..schemas import DetectionResponse, parse_detect
from ..services import services

bp = Blueprint("detect", __name__)


@bp.post("/detect")
def detect():
    svc = services()
    body: DetectionResponse = svc.detect(parse_detect(request, svc.config), g.started)
    return jsonify(body)
