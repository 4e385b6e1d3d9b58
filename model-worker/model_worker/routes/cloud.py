"""The detector under the managed-cloud container contracts it has been deployed with, so the same image runs there:

- SageMaker: `GET /ping`, `POST /invocations` with `{"inputs": "<base64>"}` (or the raw image bytes, `image/*`);
- Vertex AI: health and predict on `AIP_HEALTH_ROUTE` / `AIP_PREDICT_ROUTE` (port `AIP_HTTP_PORT`),
  `{"instances": [{"image_base64", "prompt"?}]}` -> `{"predictions": [<detection>, ...]}`;
- Azure ML: `POST /score` with `{"image_base64", "prompt"?}`.

Each answers with the same detection object as `/detect`, from the same service operation.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..config import WorkerConfig
from ..schemas import DetectionResponse, VertexPredictions, parse_azure, parse_sagemaker, parse_vertex
from ..services import services

# Paths a Vertex AI route may not take over: the worker's own routes.
RESERVED = {"/healthz", "/readyz", "/ping", "/invocations", "/score", "/detect", "/omni/chat", "/omni/feedback"}


def _detector_ready():
    body, ready = services().detector_status()
    return jsonify(body), 200 if ready else 503


def _invocations():
    svc = services()
    body: DetectionResponse = svc.detect(parse_sagemaker(request, svc.config), g.started)
    return jsonify(body)


def _vertex_predict():
    svc = services()
    inputs = parse_vertex(request, svc.config)
    return jsonify(VertexPredictions(predictions=[svc.detect(item, g.started) for item in inputs]))


def _score():
    svc = services()
    body: DetectionResponse = svc.detect(parse_azure(request, svc.config), g.started)
    return jsonify(body)


def blueprint(config: WorkerConfig) -> Blueprint:
    """The routes, with Vertex AI's where its variables name them (the paths come from the platform)."""
    bp = Blueprint("cloud", __name__)
    bp.add_url_rule("/ping", "sagemaker_ping", _detector_ready, methods=["GET"])
    bp.add_url_rule("/invocations", "sagemaker_invocations", _invocations, methods=["POST"])
    bp.add_url_rule("/score", "azure_score", _score, methods=["POST"])
    health_route = config.extra.get("AIP_HEALTH_ROUTE")
    predict_route = config.extra.get("AIP_PREDICT_ROUTE")
    if health_route and health_route.startswith("/") and health_route not in RESERVED:
        bp.add_url_rule(health_route, "vertex_health", _detector_ready, methods=["GET"])
    if predict_route and predict_route.startswith("/") and predict_route not in RESERVED:
        bp.add_url_rule(predict_route, "vertex_predict", _vertex_predict, methods=["POST"])
    return bp
