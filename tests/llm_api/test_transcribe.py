"""`POST /transcribe`: speech to text through the llm-api.

In-process (Flask test client) in front of a recording worker double on loopback: what is forwarded to the worker's
`/omni/transcribe` (the file as uploaded, the language hint, the request id), the worker's answers and failures
turned into the contract's (502 for a bad answer, its 404/503/504 passed through), and the edge validation that
keeps a bad upload from reaching the worker. Then the real llm-api (gunicorn) in front of the real model-worker on
the tiny Omni checkpoint: the answer's shape, the upload errors, the duration limit, nothing stored in a session,
the route's metrics, a worker without Omni (404) and no worker at all (503 with Retry-After)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
import schemathesis
import soundfile as sf
from prometheus_client.parser import text_string_to_metric_families

from llm_api.app import create_app
from llm_api.config import load_config
from tests.doubles.stack import llm_api_service
from tests.llm_api.conftest import LOG_DIR, assert_error
from tests.llm_api.media_samples import wav_bytes
from tests.support.openapi import LLM_API_DOCUMENT, call_and_check, fuzz_config
from tests.support.procs import Service
from tests.worker.media_samples import tone
from tests.worker.stack import model_worker_service, modelless_worker_service, wait_for_log
from tests.worker.tiny_models import build_tiny_omni

SHAPE = {"transcript", "model", "duration_s", "timings"}
ANSWER = {"transcript": "こんにちは", "model": "Qwen/Qwen2.5-Omni-3B", "duration_s": 1.0,
          "timings": {"decode_ms": 1.0, "preprocess_ms": 2.0, "inference_ms": 3.0, "total_ms": 7.0}}


def turn_wav(seconds: float) -> bytes:
    """What the Talk page sends: a 16 kHz mono 16-bit WAV."""
    buffer = io.BytesIO()
    sf.write(buffer, np.ascontiguousarray(tone(seconds, 16000, channels=1)[0]), 16000, format="WAV",
             subtype="PCM_16")
    return buffer.getvalue()


# -- in-process, in front of a worker double -------------------------------------------------------------------
@dataclass
class WorkerDouble:
    """Answers every POST with (`status`, `body`, `headers`) and keeps what it was sent."""

    url: str = ""
    status: int = 200
    body: bytes = json.dumps(ANSWER).encode()
    headers: dict[str, str] = field(default_factory=dict)
    received: list[dict] = field(default_factory=list)

    def answer(self, status: int, body: object, **headers: str) -> None:
        self.status, self.headers = status, headers
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()


def _parts(content_type: str, body: bytes) -> dict[str, tuple[str | None, str, bytes]]:
    """A multipart body's parts: name -> (filename, content type, bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {part.get_param("name", header="content-disposition"): (part.get_filename(), part.get_content_type(),
                                                                    part.get_payload(decode=True))
            for part in message.iter_parts()}


@pytest.fixture()
def worker_double() -> Iterator[WorkerDouble]:
    double = WorkerDouble()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            double.received.append({"path": self.path, "request_id": self.headers.get("X-Request-ID"),
                                    "parts": _parts(self.headers["Content-Type"], body)})
            self.send_response(double.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(double.body)))
            for name, value in double.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(double.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def client(tmp_path, worker_double):
    config = load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3"), "OLLAMA_URL": "none",
                          "WORKER_URL": worker_double.url, "MAX_AUDIO_SECONDS": "5", "UPSTREAM_TIMEOUT_S": "5"})
    return create_app(config).test_client()


def _post(client, data: bytes, filename="turn.wav", mime="audio/wav", headers=None, **form):
    return client.post("/transcribe", data={"audio": (io.BytesIO(data), filename, mime), **form},
                       content_type="multipart/form-data", headers=headers or {})


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["request_id"] == response.headers["X-Request-ID"]
    return response.json["error"]["message"]


def test_forwards_the_file_and_the_language_and_passes_the_answer_through(client, worker_double):
    audio = turn_wav(1.0)
    response = _post(client, audio, filename="turn-3.wav", language="ja", headers={"X-Request-ID": "tr-1"})
    assert response.status_code == 200, response.json
    assert response.json == ANSWER and "X-Session-ID" not in response.headers
    (sent,) = worker_double.received
    assert sent["path"] == "/omni/transcribe" and sent["request_id"] == "tr-1"
    assert sent["parts"] == {"audio": ("turn-3.wav", "audio/wav", audio), "language": (None, "text/plain", b"ja")}


def test_without_a_language_none_is_sent(client, worker_double):
    assert _post(client, turn_wav(0.5), language="").status_code == 200
    assert _post(client, turn_wav(0.5)).status_code == 200
    assert [set(sent["parts"]) for sent in worker_double.received] == [{"audio"}, {"audio"}]


def test_an_empty_transcript_is_an_answer(client, worker_double):
    worker_double.answer(200, {**ANSWER, "transcript": ""})
    response = _post(client, turn_wav(0.5))
    assert response.status_code == 200 and response.json["transcript"] == ""


@pytest.mark.parametrize("body", [{**ANSWER, "transcript": None}, {"feedback": "hi"}, [ANSWER], b"<html>oops"])
def test_a_bad_worker_answer_is_502(client, worker_double, body):
    worker_double.answer(200, body)
    _error(_post(client, turn_wav(0.5)), 502, "backend_error")


def test_the_workers_refusals_pass_through(client, worker_double):
    worker_double.answer(404, {"error": {"code": "model_not_found", "message": "The omni model is disabled on this "
                                         "worker; add omni to the worker's ENABLED_MODELS to enable it."}})
    assert "ENABLED_MODELS" in _error(_post(client, turn_wav(0.5)), 404, "model_not_found")
    worker_double.answer(503, {"error": {"code": "backend_unavailable", "message": "still loading"}},
                         **{"Retry-After": "7"})
    loading = _post(client, turn_wav(0.5))
    _error(loading, 503, "backend_unavailable")
    assert loading.headers["Retry-After"] == "7"
    worker_double.answer(504, {"error": {"code": "backend_timeout", "message": "ran past its time limit"}})
    _error(_post(client, turn_wav(0.5)), 504, "backend_timeout")
    worker_double.answer(422, {"error": {"code": "unprocessable_media", "message": "cannot decode"}})
    _error(_post(client, turn_wav(0.5)), 422, "unprocessable_media")


@pytest.mark.parametrize(("kwargs", "status", "code", "words"), [
    ({"language": "ja_JP"}, 400, "bad_request", "language"),
    ({"language": "x" * 17}, 400, "bad_request", "language"),
    ({"language": "日本語"}, 400, "bad_request", "language"),
    ({"session_id": "abc"}, 400, "bad_request", "session_id"),  # never stored: the field does not exist here
    ({"prompt": "Transcribe"}, 400, "bad_request", "prompt"),
    ({"data": b"", "mime": "audio/wav"}, 400, "bad_request", "empty"),
    ({"data": b"just some text", "mime": "text/plain", "filename": "a.txt"}, 415, "unsupported_media_type", "audio"),
    ({"data": wav_bytes(6.0)}, 400, "bad_request", "at most 5 s"),
])
def test_bad_uploads_never_reach_the_worker(client, worker_double, kwargs, status, code, words):
    data = kwargs.pop("data", turn_wav(0.5))
    assert words in _error(_post(client, data, **kwargs), status, code)
    assert worker_double.received == []


def test_the_form_must_be_multipart_with_audio(client, worker_double):
    _error(client.post("/transcribe", json={"audio": "x"}), 415, "unsupported_media_type")
    _error(client.post("/transcribe", data={"language": "en"}, content_type="multipart/form-data"), 400,
           "bad_request")
    assert worker_double.received == []


# -- the real llm-api in front of the real worker ---------------------------------------------------------------
@pytest.fixture(scope="module")
def omni_only(tmp_path_factory) -> dict[str, Path]:
    """Only the tiny Omni checkpoint (the worker runs with ENABLED_MODELS=omni; the detector paths are not read)."""
    root = tmp_path_factory.mktemp("tiny-omni")
    return {"omni": build_tiny_omni(root / "omni"), "vl": root, "lora": root}


@pytest.fixture(scope="module")
def stack(omni_only, tmp_path_factory) -> Iterator[tuple[Service, Service]]:
    db = tmp_path_factory.mktemp("transcribe-db") / "llm-api.sqlite3"
    with model_worker_service(omni_only, name="transcribe-worker", env={"ENABLED_MODELS": "omni"}) as worker, \
            llm_api_service("none", worker.url, db, log_dir=LOG_DIR,
                            env={"WEB_CONCURRENCY": "1", "MAX_AUDIO_SECONDS": "5"}) as api:
        yield api, worker


def _sessions(api: Service) -> list[dict]:
    response = requests.get(api.url + "/sessions", params={"limit": 200}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["sessions"]


def _counted(api: Service, route: str) -> dict[str, float]:
    text = requests.get(api.url + "/metrics", timeout=10).text
    return {s.labels["status"]: s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == "llm_api_http_requests_total" and s.labels.get("route") == route
            and s.labels.get("method") == "POST"}


@pytest.mark.slow
def test_transcribe_through_the_llm_api(stack, omni_only):
    api, worker = stack
    before = _sessions(api)
    response = requests.post(api.url + "/transcribe", timeout=180, data={"language": "ja"},
                             files={"audio": ("turn.wav", turn_wav(1.5), "audio/wav")},
                             headers={"X-Request-ID": "e2e-transcribe-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == SHAPE and isinstance(body["transcript"], str)
    assert body["model"] == str(omni_only["omni"])  # the worker's OMNI_MODEL
    assert body["duration_s"] == pytest.approx(1.5, abs=0.05)
    assert {"total_ms", "decode_ms", "inference_ms"} <= set(body["timings"])
    assert "X-Session-ID" not in response.headers
    assert _sessions(api) == before  # nothing stored
    assert wait_for_log(worker, "request_id=e2e-transcribe-1")  # forwarded, with the request id


@pytest.mark.slow
def test_the_answer_matches_the_llm_apis_document(stack):
    api, _ = stack
    operation = schemathesis.openapi.from_path(LLM_API_DOCUMENT, config=fuzz_config())["/transcribe"]["POST"]
    response = call_and_check(operation.Case(media_type="multipart/form-data", multipart_content_types={
        "audio": "audio/wav"}, body={"audio": turn_wav(1.0), "language": "en-US"}), api.url, timeout=180)
    assert response.status_code == 200, response.text


@pytest.mark.slow
def test_errors_through_the_llm_api(stack):
    api, worker = stack
    corrupt = requests.post(api.url + "/transcribe", timeout=60,
                            files={"audio": ("broken.ogg", b"OggS" + bytes(300), "audio/ogg")})
    assert_error(corrupt, 422, "unprocessable_media")  # the worker's decoder, passed through
    too_long = requests.post(api.url + "/transcribe", timeout=60, headers={"X-Request-ID": "e2e-too-long"},
                             files={"audio": ("long.wav", turn_wav(6.0), "audio/wav")})
    assert "at most 5 s" in assert_error(too_long, 400, "bad_request")["message"]
    assert not wait_for_log(worker, "request_id=e2e-too-long", timeout_s=1.0)  # refused before the worker
    assert_error(requests.post(api.url + "/transcribe", timeout=60,
                               files={"audio": ("a.txt", b"just some text", "text/plain")}),
                 415, "unsupported_media_type")


@pytest.mark.slow
def test_the_route_is_labelled_in_the_metrics(stack):
    api, _ = stack
    before = _counted(api, "/transcribe")
    response = requests.post(api.url + "/transcribe", timeout=180,
                             files={"audio": ("turn.wav", turn_wav(0.5), "audio/wav")})
    assert response.status_code == 200, response.text
    after = _counted(api, "/transcribe")
    assert after.get("200", 0) == before.get("200", 0) + 1


@pytest.mark.slow
def test_a_worker_without_omni_is_404_model_not_found(tmp_path):
    with modelless_worker_service(tmp_path, name="transcribe-no-omni") as worker, \
            llm_api_service("none", worker.url, tmp_path / "db.sqlite3", log_dir=LOG_DIR,
                            env={"WEB_CONCURRENCY": "1"}) as api:
        response = requests.post(api.url + "/transcribe", timeout=60,
                                 files={"audio": ("turn.wav", turn_wav(0.5), "audio/wav")})
    assert "ENABLED_MODELS" in assert_error(response, 404, "model_not_found")["message"]


def test_no_worker_is_503_with_retry_after(api):
    """The suite's main llm-api has no worker listening."""
    response = requests.post(api.url + "/transcribe", timeout=30,
                             files={"audio": ("turn.wav", turn_wav(0.5), "audio/wav")})
    assert "model-worker" in assert_error(response, 503, "backend_unavailable")["message"]
    assert int(response.headers["Retry-After"]) > 0
