"""The worker as its image runs it: the Dockerfile's CMD (gunicorn) from model-worker/, over real HTTP."""

import base64
import json
import threading

import pytest
import requests

from tests.support.procs import REPO_ROOT, dockerfile_cmd
from tests.worker.media_samples import encode_audio, form_image, image_bytes
from tests.worker.stack import model_worker_service, wait_for_log


@pytest.fixture(scope="module")
def worker(tiny_checkpoints):
    with model_worker_service(tiny_checkpoints, name="service-test") as service:
        yield service


def test_cmd_is_gunicorn_with_the_service_config():
    assert dockerfile_cmd(REPO_ROOT / "model-worker" / "Dockerfile")[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]


def test_ready_and_health(worker):
    ready = requests.get(worker.url + "/readyz", timeout=10)
    assert ready.status_code == 200
    assert {m["state"] for m in ready.json()["models"].values()} == {"ready"}
    assert requests.get(worker.url + "/healthz", timeout=10).json() == {"status": "ok"}


def test_feedback_and_detect_over_http(worker):
    response = requests.post(
        worker.url + "/omni/feedback",
        files={"audio": ("rec.webm", encode_audio("webm_opus", 1.0), "audio/webm")},
        data={"return_audio": "true"}, headers={"X-Request-ID": "svc-test-1"}, timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.json()["audio"]["sample_rate"] == 24000
    assert response.headers["X-Request-ID"] == "svc-test-1"
    detection = requests.post(worker.url + "/detect",
                              json={"image_base64": base64.b64encode(image_bytes(form_image(800, 600))).decode()},
                              timeout=120)
    assert detection.status_code == 200 and detection.json()["image_size"] == {"width": 800, "height": 600}
    assert wait_for_log(worker, "request_id=svc-test-1")  # the access log line names the request


def test_chat_stream_over_http_and_health_during_inference(worker):
    results = {}

    def stream():
        with requests.post(worker.url + "/omni/chat", stream=True, timeout=120,
                           json={"messages": [{"role": "user", "content": "Hello"}], "stream": True}) as response:
            results["status"] = response.status_code
            results["type"] = response.headers["Content-Type"]
            results["lines"] = [json.loads(line) for line in response.iter_lines() if line]

    thread = threading.Thread(target=stream)
    thread.start()
    assert requests.get(worker.url + "/healthz", timeout=10).status_code == 200
    thread.join(120)
    assert results["status"] == 200 and results["type"].startswith("application/x-ndjson")
    assert results["lines"][0]["type"] == "start" and results["lines"][-1]["type"] == "done"


def test_errors_over_http(worker):
    response = requests.post(worker.url + "/omni/feedback", files={"audio": ("x.wav", b"RIFFjunk", "audio/wav")},
                             timeout=60)
    assert response.status_code == 422 and response.json()["error"]["code"] == "unprocessable_media"
    assert requests.get(worker.url + "/missing", timeout=10).status_code == 404


def test_invalid_configuration_stops_the_server_with_a_clear_message(tmp_path):
    import os
    import subprocess

    from tests.support.procs import VENV_BIN, free_port

    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "PORT": str(free_port()),
           "USE_4BIT": "maybe", "HOME": str(tmp_path)}
    result = subprocess.run(dockerfile_cmd(REPO_ROOT / "model-worker" / "Dockerfile"),
                            cwd=REPO_ROOT / "model-worker", env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "invalid configuration: USE_4BIT='maybe' is not a boolean" in result.stdout + result.stderr
