"""The detector under the managed-cloud container contracts it has been deployed with, so the same image runs there:

- SageMaker: `GET /ping`, `POST /invocations` with `{"inputs": "<base64>"}` (or the raw image bytes, `image/*`);
- Vertex AI: health and predict on `AIP_HEALTH_ROUTE` / `AIP_PREDICT_ROUTE` (port `AIP_HTTP_PORT`),
  `{"instances": [{"image_base64", "prompt"?}]}` -> `{"predictions": [<detection>, ...]}`;
- Azure ML: `POST /score` with `{"image_base64", "prompt"?}`.

Each answers with the same detection object as `/detect`.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..app import slots, worker_config
from ..config import WorkerConfig
from ..errors import BadRequest, PayloadTooLarge
from ..schemas import decode_base64_image, json_body
from .detect import run_detection


def _detector_ready():
    slot = slots()["detector"]
    ready = slot.state == "ready"
    return jsonify(status="ok" if ready else slot.state, detector=slot.info()), 200 if ready else 503


def _invocations():
    config = worker_config()
    if request.mimetype.startswith("image/") or request.mimetype == "application/pdf":
        data = request.get_data()
        if len(data) > config.max_image_bytes:
            raise PayloadTooLarge(f"the image is larger than {config.max_image_bytes // (1024 * 1024)} MiB")
        return jsonify(run_detection(data, None))
    body = json_body(request)
    image = decode_base64_image(body.get("inputs"), config, field="inputs")
    parameters = body.get("parameters") or {}
    prompt = parameters.get("prompt") if isinstance(parameters, dict) else None
    return jsonify(run_detection(image, prompt if isinstance(prompt, str) and prompt.strip() else None))


def _vertex_predict():
    config = worker_config()
    instances = json_body(request).get("instances")
    if not isinstance(instances, list) or not instances:
        raise BadRequest('instances must be a non-empty list of {"image_base64"}')
    predictions = []
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise BadRequest(f'instances[{index}] must be an object {{"image_base64"}}')
        image = decode_base64_image(instance.get("image_base64"), config, field=f"instances[{index}].image_base64")
        prompt = instance.get("prompt")
        predictions.append(run_detection(image, prompt if isinstance(prompt, str) and prompt.strip() else None))
    return jsonify(predictions=predictions)


def _score():
    config = worker_config()
    body = json_body(request)
    prompt = body.get("prompt")
    image = decode_base64_image(body.get("image_base64"), config)
    return jsonify(run_detection(image, prompt if isinstance(prompt, str) and prompt.strip() else None))


def blueprint(config: WorkerConfig) -> Blueprint:
    bp = Blueprint("cloud", __name__)
    bp.add_url_rule("/ping", "sagemaker_ping", _detector_ready, methods=["GET"])
    bp.add_url_rule("/invocations", "sagemaker_invocations", _invocations, methods=["POST"])
    bp.add_url_rule("/score", "azure_score", _score, methods=["POST"])
    health_route = config.extra.get("AIP_HEALTH_ROUTE")
    predict_route = config.extra.get("AIP_PREDICT_ROUTE")
    reserved = {"/healthz", "/readyz", "/ping", "/invocations", "/score", "/detect", "/omni/chat", "/omni/feedback"}
    if health_route and health_route.startswith("/") and health_route not in reserved:
        bp.add_url_rule(health_route, "vertex_health", _detector_ready, methods=["GET"])
    if predict_route and predict_route.startswith("/") and predict_route not in reserved:
        bp.add_url_rule(predict_route, "vertex_predict", _vertex_predict, methods=["POST"])
    return bp
