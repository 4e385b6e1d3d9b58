"""The worker as its image runs it: the Dockerfile's CMD (gunicorn) from model-worker/, over real HTTP."""

import base64
import json
import select
import socket
import threading
import time

import pytest
import requests

from tests.support.procs import REPO_ROOT, dockerfile_cmd
from tests.support.raw_http import assert_bad_request, chunked_post, stalled_post
from tests.worker.media_samples import encode_audio, form_image, image_bytes
from tests.worker.stack import model_worker_service, wait_for_log


@pytest.fixture(scope="module")
def worker(tiny_checkpoints):
    with model_worker_service(tiny_checkpoints, env={"BODY_TIMEOUT_S": "1"}, name="service-test") as service:
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


@pytest.mark.parametrize(("path", "content_type"), [("/omni/chat", "application/json"),
                                                    ("/omni/feedback", "multipart/form-data; boundary=b")])
def test_stalled_body_is_answered_400_after_body_timeout(worker, path, content_type):
    """A client that stops sending its body does not hold a gunicorn thread forever: after BODY_TIMEOUT_S (1 s
    here) it gets the contract's 400 with the usual headers, and the worker keeps serving."""
    head, body = stalled_post(worker.port, path, content_type, request_id="stall-2")
    assert_bad_request(head, body, "stall-2")
    assert requests.get(worker.url + "/healthz", timeout=10).status_code == 200


def test_stalled_headers_do_not_starve_the_worker(worker):
    """More half-sent requests than the worker has threads: each is dropped after BODY_TIMEOUT_S (1 s here), and
    the worker answers /healthz meanwhile and after."""
    threads = 16  # gunicorn.conf.py's default GUNICORN_THREADS (the tests run with fewer)
    stalled: list[socket.socket] = []
    try:
        for _ in range(threads + 4):
            sock = socket.create_connection(("127.0.0.1", worker.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            stalled.append(sock)
        assert requests.get(worker.url + "/healthz", timeout=10).status_code == 200
        # The server closes each one (EOF); a client closes its end then, as gunicorn's graceful close expects.
        open_socks, deadline = set(stalled), time.monotonic() + 60
        while open_socks and time.monotonic() < deadline:
            readable, _, _ = select.select(list(open_socks), [], [], 1.0)
            for sock in readable:
                assert sock.recv(1024) == b"", "a stalled request got an answer instead of being dropped"
                sock.close()
                open_socks.discard(sock)
        assert not open_socks, f"{len(open_socks)} stalled connections were never closed by the server"
    finally:
        for sock in stalled:
            sock.close()
    assert requests.get(worker.url + "/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("chunks", [b"zz\r\n", b"5\r\nabcdeXX"])
@pytest.mark.parametrize(("path", "content_type"), [("/omni/chat", "application/json"),
                                                    ("/detect", "multipart/form-data; boundary=b")])
def test_broken_chunked_body_is_400(worker, path, content_type, chunks):
    head, body = chunked_post(worker.port, path, content_type, chunks, request_id="chunk-2")
    assert_bad_request(head, body, "chunk-2")


@pytest.mark.parametrize(("size", "status"), [(1024 * 1024, 200), (1024 * 1024 + 1, 413)])
def test_chat_json_limit_holds_for_chunked_bodies(worker, size, status):
    """/omni/chat takes at most the contract's 1 MiB of JSON, with or without a Content-Length."""
    start = b'{"messages": [{"role": "user", "content": "hi"}], "options": {"max_tokens": 2}'
    body = start + b" " * (size - len(start) - 1) + b"}"

    def chunks():
        for offset in range(0, len(body), 65536):
            yield body[offset:offset + 65536]
    response = requests.post(worker.url + "/omni/chat", data=chunks(), headers={"Content-Type": "application/json"},
                             timeout=60)
    assert response.status_code == status, response.text


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
