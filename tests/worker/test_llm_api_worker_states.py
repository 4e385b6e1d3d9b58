"""The llm-api in front of real model-workers that are not simply ready: a model disabled by ENABLED_MODELS, a model
that failed to load, one still loading, a request that runs past REQUEST_TIMEOUT_S mid-stream, and no worker at all.

Every worker is the real one (gunicorn, tiny checkpoints); each is started once for this module. "Still loading" is
a real load that waits on the network: the detector is a Hugging Face hub id and HF_ENDPOINT points at a socket that
accepts connections and never answers (the hub itself cannot be reached from the test machines), so the download,
and with it the loading state, lasts as long as the test needs.
"""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
import requests

from tests.doubles.stack import llm_api_service, ollama_double
from tests.support.procs import free_port
from tests.worker.media_samples import encode_audio, form_image, image_bytes
from tests.worker.stack import model_worker_service

pytestmark = pytest.mark.slow

RETRY_AFTER = "7"  # the workers' RETRY_AFTER_S; the llm-api's own default differs, so a pass-through shows
PNG = image_bytes(form_image(400, 300), "PNG")


@pytest.fixture(scope="module")
def ollama():
    with ollama_double() as double:
        yield double


@pytest.fixture(scope="module")
def api_for(ollama, tmp_path_factory):
    """Start the real llm-api in front of `worker_url` (a fresh database each)."""
    def start(worker_url: str):
        # One gevent process serves these sequential tests (and stops in ~1 s; an idle second one lingers ~5 s).
        return llm_api_service(ollama.url, worker_url, tmp_path_factory.mktemp("llm-api-db") / "db.sqlite3",
                               env={"WEB_CONCURRENCY": "1"})
    return start


@pytest.fixture(scope="module")
def omni_disabled(tiny_checkpoints, api_for):
    """ENABLED_MODELS=detector: the worker answers 404 model_not_found for anything Omni."""
    env = {"ENABLED_MODELS": "detector", "RETRY_AFTER_S": RETRY_AFTER}
    with model_worker_service(tiny_checkpoints, env=env, name="omni-disabled") as worker, \
            api_for(worker.url) as api:
        yield api


@pytest.fixture(scope="module")
def not_ready(tiny_checkpoints, api_for, tmp_path_factory):
    """Omni failed to load (OMNI_MODEL is an empty directory); the detector is still loading (see the docstring)."""
    with socket.socket() as never_answers:
        never_answers.bind(("127.0.0.1", 0))
        never_answers.listen(64)
        env = {
            "OMNI_MODEL": str(tmp_path_factory.mktemp("empty-omni")),
            "VL_BASE_MODEL": "stalled-hub/qwen3-vl", "VL_LORA_ADAPTER": "", "HF_HUB_OFFLINE": "0",
            "HF_ENDPOINT": f"http://127.0.0.1:{never_answers.getsockname()[1]}",
            "HF_HUB_ETAG_TIMEOUT": "600", "HF_HUB_DOWNLOAD_TIMEOUT": "600", "RETRY_AFTER_S": RETRY_AFTER,
        }
        with model_worker_service(tiny_checkpoints, env=env, name="not-ready", wait_ready=False) as worker:
            _wait_states(worker.url, {"omni": "failed", "detector": "loading"})
            with api_for(worker.url) as api:
                yield api, worker


@pytest.fixture(scope="module")
def omni_short_timeout(tiny_checkpoints, api_for):
    """Omni only, REQUEST_TIMEOUT_S=3: a long answer is cut off by the worker after its stream has started."""
    env = {"ENABLED_MODELS": "omni", "REQUEST_TIMEOUT_S": "3"}
    with model_worker_service(tiny_checkpoints, env=env, name="omni-timeout") as worker, \
            api_for(worker.url) as api:
        yield api


@pytest.fixture(scope="module")
def worker_down(api_for):
    with api_for(f"http://127.0.0.1:{free_port()}") as api:  # nothing listens there
        yield api


def _wait_states(url: str, expected: dict[str, str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    states = None
    while time.monotonic() < deadline:
        states = {k: v["state"] for k, v in requests.get(url + "/readyz", timeout=10).json()["models"].items()}
        if states == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker states {states}, expected {expected}")


def _error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"] == response.headers["X-Request-ID"]
    return error


def _omni_models(api) -> list[dict]:
    response = requests.get(api.url + "/models", timeout=30)
    assert response.status_code == 200, response.text
    return [m for m in response.json()["models"] if m["name"] == "omni"]


def _sessions(api) -> list[dict]:
    return requests.get(api.url + "/sessions", timeout=30).json()["sessions"]


def _voice(api, **data: str) -> requests.Response:
    return requests.post(api.url + "/voice-feedback", data=data, timeout=60,
                         files={"audio": ("clip.wav", encode_audio("wav", 0.5), "audio/wav")})


# -- a model disabled by ENABLED_MODELS: 404 model_not_found with the worker's message ----------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_disabled_omni_chat_is_404_model_not_found(omni_disabled, stream):
    before = _sessions(omni_disabled)
    response = requests.post(omni_disabled.url + "/ask-llm", timeout=60,
                             json={"prompt": "hi", "model": "omni", "stream": stream})
    error = _error(response, 404, "model_not_found")  # a plain HTTP error, also when a stream was asked for
    assert "disabled" in error["message"] and "ENABLED_MODELS" in error["message"]
    assert _sessions(omni_disabled) == before


def test_disabled_omni_voice_feedback_is_404_and_stores_nothing(omni_disabled):
    sid = requests.post(omni_disabled.url + "/ask-llm", json={"prompt": "start"}, timeout=60).json()["session_id"]
    error = _error(_voice(omni_disabled, session_id=sid), 404, "model_not_found")
    assert "ENABLED_MODELS" in error["message"]
    messages = requests.get(f"{omni_disabled.url}/sessions/{sid}", timeout=30).json()["messages"]
    assert len(messages) == 2  # only the Ollama exchange that created the session


def test_disabled_omni_is_not_listed_and_the_stack_is_ready(omni_disabled):
    assert _omni_models(omni_disabled) == []
    response = requests.get(omni_disabled.url + "/readyz", timeout=30)
    assert (response.status_code, response.json()["status"]) == (200, "ready")
    assert response.json()["checks"]["worker"]["models"] == {"omni": "disabled", "detector": "ready"}
    detector = response.json()["checks"]["worker"]["details"]["detector"]
    assert detector["device"] == "cpu" and detector["dtype"] == "float32" and detector["memory_bytes"] > 0
    detection = requests.post(omni_disabled.url + "/detect-fields", timeout=120,
                              json={"image_base64": base64.b64encode(PNG).decode()})
    assert detection.status_code == 200 and detection.json()["image_size"] == {"width": 400, "height": 300}


# -- a model that failed to load, one still loading: 503 with the worker's Retry-After -----------------------------

def test_failed_omni_is_listed_failed_and_the_stack_degraded(not_ready):
    not_ready, _ = not_ready
    omni = _omni_models(not_ready)
    assert [(m["backend"], m["state"]) for m in omni] == [("worker", "failed")]
    response = requests.get(not_ready.url + "/readyz", timeout=30)
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    worker = response.json()["checks"]["worker"]
    assert worker["status"] != "up" and worker["models"] == {"omni": "failed", "detector": "loading"}
    assert worker["details"]["omni"]["error"] and worker["details"]["omni"]["device"] is None


@pytest.mark.parametrize("stream", [False, True])
def test_failed_omni_chat_is_503_with_retry_after(not_ready, stream):
    not_ready, _ = not_ready
    response = requests.post(not_ready.url + "/ask-llm", timeout=60,
                             json={"prompt": "hi", "model": "omni", "stream": stream})
    error = _error(response, 503, "backend_unavailable")
    assert response.headers["Retry-After"] == RETRY_AFTER
    assert "failed to load" in error["message"]
    assert _sessions(not_ready) == []


def test_failed_omni_voice_feedback_is_503_with_retry_after(not_ready):
    not_ready, _ = not_ready
    response = _voice(not_ready)
    assert "failed to load" in _error(response, 503, "backend_unavailable")["message"]
    assert response.headers["Retry-After"] == RETRY_AFTER


def test_loading_detector_is_503_with_retry_after(not_ready):
    not_ready, _ = not_ready
    response = requests.post(not_ready.url + "/detect-fields", timeout=60,
                             files={"image": ("form.png", PNG, "image/png")})
    assert "still loading" in _error(response, 503, "backend_unavailable")["message"]
    assert response.headers["Retry-After"] == RETRY_AFTER


def test_a_refused_upload_leaves_the_kept_alive_connection_usable(not_ready):
    """The worker refused voice feedback (model failed) without reading the upload, and gunicorn then dropped the
    kept-alive connection now and then: the llm-api's next worker request (pooled connection) failed. Now every
    answer on one connection is the worker's own."""
    api, worker = not_ready
    audio = encode_audio("wav", 1.0)  # a body of ~90 kB, well beyond what one socket read takes in
    with requests.Session() as session:
        for _ in range(12):
            refused = session.post(worker.url + "/omni/feedback", files={"audio": ("a.wav", audio, "audio/wav")},
                                   timeout=30)
            assert refused.status_code == 503 and "failed to load" in refused.json()["error"]["message"]
            loading = session.post(worker.url + "/detect", json={"image_base64": base64.b64encode(PNG).decode()},
                                   timeout=30)
            assert loading.status_code == 503 and "still loading" in loading.json()["error"]["message"]
    for _ in range(4):
        assert "failed to load" in _error(_voice(api), 503, "backend_unavailable")["message"]
        detect = requests.post(api.url + "/detect-fields", json={"image_base64": base64.b64encode(PNG).decode()},
                               timeout=30)
        assert "still loading" in _error(detect, 503, "backend_unavailable")["message"]


# -- a failure after the stream started: a final error line, nothing stored ----------------------------------------

def test_worker_timeout_mid_stream_is_a_final_error_line_and_stores_nothing(omni_short_timeout):
    api = omni_short_timeout
    with requests.post(api.url + "/ask-llm", stream=True, timeout=120,
                       json={"prompt": "a long answer", "model": "omni", "stream": True,
                             "options": {"max_tokens": 8192, "temperature": 0}}) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[0]["type"] == "start" and {line["type"] for line in lines[1:-1]} <= {"token"}
    assert lines[-1]["type"] == "error" and lines[-1]["error"]["code"] == "backend_timeout"
    assert requests.get(f"{api.url}/sessions/{lines[0]['session_id']}", timeout=30).status_code == 404
    assert _sessions(api) == []


def test_disabled_detector_is_404_model_not_found(omni_short_timeout):
    response = requests.post(omni_short_timeout.url + "/detect-fields", timeout=60,
                             files={"image": ("form.png", PNG, "image/png")})
    assert "ENABLED_MODELS" in _error(response, 404, "model_not_found")["message"]


# -- no worker at all ------------------------------------------------------------------------------------------------

def test_worker_down_degrades_and_its_routes_are_503(worker_down):
    assert [m["state"] for m in _omni_models(worker_down)] == ["failed"]
    response = requests.get(worker_down.url + "/readyz", timeout=30)
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    assert response.json()["checks"]["worker"]["status"] == "down"
    chat = requests.post(worker_down.url + "/ask-llm", json={"prompt": "hi", "model": "omni"}, timeout=60)
    _error(chat, 503, "backend_unavailable")
    assert chat.headers["Retry-After"].isdigit()
    detect = requests.post(worker_down.url + "/detect-fields", timeout=60,
                           json={"image_base64": base64.b64encode(PNG).decode()})
    _error(detect, 503, "backend_unavailable")
