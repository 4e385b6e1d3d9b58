"""The detector under the SageMaker, Vertex AI and Azure ML container contracts."""

import base64

import pytest

from model_worker.app import create_app
from tests.worker.conftest import make_config
from tests.worker.media_samples import form_image, image_bytes

DETECTION_KEYS = {"bboxes", "count", "raw_output", "image_size", "model", "timings"}


def _b64(width=400, height=300, fmt="PNG"):
    return base64.b64encode(image_bytes(form_image(width, height), fmt)).decode()


@pytest.fixture(scope="module")
def vertex_app(loaded_app, tiny_env):
    """A second app sharing the loaded detector, configured as Vertex AI configures a container."""
    app = create_app(
        make_config(tiny_env, AIP_HTTP_PORT="8080", AIP_HEALTH_ROUTE="/v1/health",
                    AIP_PREDICT_ROUTE="/v1/models/detector:predict"),
        start_loading=False,
    )
    app.extensions["model_slots"] = loaded_app.extensions["model_slots"]
    return app


def test_sagemaker_ping_and_invocations(client):
    assert client.get("/ping").status_code == 200
    response = client.post("/invocations", json={"inputs": _b64(400, 300)})
    assert response.status_code == 200, response.json
    assert set(response.json) >= DETECTION_KEYS
    assert response.json["image_size"] == {"width": 400, "height": 300}


def test_sagemaker_raw_image_body(client):
    data = image_bytes(form_image(320, 200), "JPEG")
    response = client.post("/invocations", data=data, content_type="image/jpeg")
    assert response.status_code == 200 and response.json["image_size"] == {"width": 320, "height": 200}


def test_sagemaker_errors(client):
    assert client.post("/invocations", json={"inputs": ""}).status_code == 400
    assert client.post("/invocations", json={"inputs": base64.b64encode(b"not an image").decode()}).status_code == 415


def test_vertex_routes_port_and_shapes(vertex_app):
    assert vertex_app.config["WORKER"].port == 8080
    client = vertex_app.test_client()
    assert client.get("/v1/health").status_code == 200
    response = client.post("/v1/models/detector:predict",
                           json={"instances": [{"image_base64": _b64(400, 300)}, {"image_base64": _b64(200, 500)}]})
    assert response.status_code == 200, response.json
    predictions = response.json["predictions"]
    assert len(predictions) == 2 and all(set(p) >= DETECTION_KEYS for p in predictions)
    assert [p["image_size"] for p in predictions] == [{"width": 400, "height": 300}, {"width": 200, "height": 500}]
    assert client.post("/v1/models/detector:predict", json={"instances": []}).status_code == 400


def test_vertex_routes_absent_without_aip_variables(client):
    assert client.get("/v1/health").status_code == 404


def test_azure_score(client):
    response = client.post("/score", json={"image_base64": "data:image/png;base64," + _b64(300, 300)})
    assert response.status_code == 200, response.json
    assert set(response.json) >= DETECTION_KEYS and response.json["image_size"] == {"width": 300, "height": 300}
    assert client.post("/score", json={}).status_code == 400


def test_ping_is_503_while_the_detector_is_not_ready(tiny_env):
    app = create_app(make_config(tiny_env, ENABLED_MODELS="omni"), start_loading=False)
    assert app.test_client().get("/ping").status_code == 503
