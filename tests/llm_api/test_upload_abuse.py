"""Upload abuse against the real llm-api (gunicorn, loopback only; issue 8), in front of a recording double of the
model-worker (an in-process Flask app that keeps what it was sent and answers as the worker does).

The edge reads headers, never pixels or samples: a PNG, JPEG or WebP claiming billions of pixels, too elongated an
image, a JPEG of twenty thousand progressive scans, a WAV whose real length is over MAX_AUDIO_SECONDS, a thousand-part
form or a megabyte field name are answered with the contract's JSON error (400, 413, 415, 422) and never reach the
worker; a small file that decodes large, a WAV header that lies about its length, mislabelled audio and
path-traversal filenames are passed on as they came (the worker decides: tests/worker/test_upload_abuse.py), and
nothing is ever written at a path a filename names. The llm-api process's peak RSS is measured around the bombs.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator

import pytest
import requests
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from llm_api import sniffing
from model_worker import media as worker_media
from tests.doubles.stack import llm_api_service
from tests.llm_api.conftest import LOG_DIR
from tests.support import abuse_samples as samples
from tests.support.abuse_samples import assert_contract_error, peak_rss
from tests.support.linux_procs import child_pids
from tests.support.procs import Service, free_port

MIB = 1024 * 1024
# What an upload may add to the llm-api's peak RSS: two copies of the largest (25 MiB of audio), the form's and the
# body sent on to the worker (measured: 48 MiB), and the parsing around them.
BUDGET_MIB = 128


class RecordingWorker:
    """The model-worker's /omni/feedback and /detect, answering 200 and keeping each upload it was sent."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        app = Flask("recording-worker")
        app.add_url_rule("/omni/feedback", "feedback", self._feedback, methods=["POST"])
        app.add_url_rule("/detect", "detect", self._detect, methods=["POST"])
        self._server = make_server("127.0.0.1", free_port(), app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _keep(self, field: str) -> None:
        upload = request.files.get(field)
        data = upload.read() if upload is not None else base64.b64decode(request.get_json()["image_base64"])
        self.received.append({"field": field, "filename": upload.filename if upload else None,
                              "content_type": upload.mimetype if upload else None, "size": len(data),
                              "sha256": hashlib.sha256(data).hexdigest()})

    def _feedback(self):
        self._keep("audio")
        return jsonify({"feedback": "ok", "transcript": None, "audio": None, "model": "double", "duration_s": 1.0,
                        "timings": {"decode_ms": 1.0, "inference_ms": 1.0}})

    def _detect(self):
        self._keep("image")
        return jsonify({"bboxes": [], "count": 0, "raw_output": "", "image_size": {"width": 1, "height": 1},
                        "model": "double", "timings": {"decode_ms": 1.0}})

    def __enter__(self) -> RecordingWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(10)


@pytest.fixture(scope="module")
def worker_double() -> Iterator[RecordingWorker]:
    with RecordingWorker() as double:
        yield double


@pytest.fixture(scope="module")
def edge(worker_double, tmp_path_factory) -> Iterator[Service]:
    """One llm-api process (so its RSS is one process's) with no Ollama, in front of the recording worker."""
    db = tmp_path_factory.mktemp("abuse-db") / "llm-api.sqlite3"
    with llm_api_service("none", worker_double.url, db, env={"WEB_CONCURRENCY": "1"}, log_dir=LOG_DIR) as service:
        yield service


@pytest.fixture(scope="module")
def edge_pid(edge) -> int:
    children = child_pids(edge.process.pid)
    assert len(children) == 1, children
    return children[0]


@pytest.fixture
def received(worker_double) -> list[dict]:
    """What the worker double is sent during the test."""
    worker_double.received.clear()
    return worker_double.received


def voice(edge: Service, data: bytes, content_type: str = "audio/wav", filename: str = "clip.wav"):
    return requests.post(edge.url + "/voice-feedback", files={"audio": (filename, data, content_type)}, timeout=60)


def detect(edge: Service, data: bytes, content_type: str = "image/png", filename: str = "form.png"):
    return requests.post(edge.url + "/detect-fields", files={"image": (filename, data, content_type)}, timeout=60)


def post_raw(edge: Service, path: str, body: bytes, content_type: str) -> requests.Response:
    return requests.post(edge.url + path, data=body, headers={"Content-Type": content_type}, timeout=60)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_shape_limits_are_the_workers():
    assert sniffing.MAX_ASPECT_RATIO == worker_media.MAX_ASPECT_RATIO
    assert sniffing.MAX_JPEG_SCANS == worker_media.MAX_JPEG_SCANS


# -- images --------------------------------------------------------------------------------------------------------
EDGE_IMAGE_REFUSALS = {
    # name: (bytes, declared type, status, code): each decided from the header, nothing forwarded
    "png_50000x50000": (samples.png_claiming(50_000, 50_000), "image/png", 400, "bad_request"),
    "jpeg_60000x60000": (samples.jpeg_claiming(60_000, 60_000), "image/jpeg", 400, "bad_request"),
    "webp_16384x16384": (samples.webp_claiming(16_384, 16_384), "image/webp", 400, "bad_request"),
    "png_20000x10": (samples.png_zeros(20_000, 10), "image/png", 400, "bad_request"),
    "jpeg_20000_scans": (samples.jpeg_scan_bomb(20_000), "image/jpeg", 422, "unprocessable_media"),
    "png_0x0": (samples.png_zero_size(), "image/png", 422, "unprocessable_media"),
    "png_cut_in_its_header": (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", 422, "unprocessable_media"),
    "jpeg_without_a_frame": (b"\xff\xd8\xff\xe0\x00\x04\x00\x00\xff\xd9", "image/jpeg", 422, "unprocessable_media"),
    "webp_unknown_chunk": (b"RIFF\x10\x00\x00\x00WEBPJUNK" + bytes(8), "image/webp", 422, "unprocessable_media"),
    "text_as_png": (b"not an image at all " * 10, "image/png", 422, "unprocessable_media"),
    "wav_as_jpeg": (samples.wav(0.1), "image/jpeg", 422, "unprocessable_media"),
    "gif_65535x65535": (samples.gif_claiming(65_535, 65_535), "image/gif", 415, "unsupported_media_type"),
    "gif_65535x65535_undeclared": (samples.gif_claiming(65_535, 65_535), "application/octet-stream", 415,
                                   "unsupported_media_type"),
}


@pytest.mark.parametrize("name", list(EDGE_IMAGE_REFUSALS))
def test_image_bombs_and_broken_headers_are_refused_at_the_edge(edge, edge_pid, received, name):
    data, content_type, status, code = EDGE_IMAGE_REFUSALS[name]
    # JSON declares no type: bytes that are no image of the contract's are 415 there
    json_status, json_code = (status, code) if sniffing.sniff_image(data) else (415, "unsupported_media_type")
    with peak_rss(edge_pid, f"llm-api /detect-fields {name} ({len(data)} bytes)", BUDGET_MIB):
        assert_contract_error(detect(edge, data, content_type), status, code)
        response = requests.post(edge.url + "/detect-fields", json={"image_base64": base64.b64encode(data).decode()},
                                 timeout=60)
        assert_contract_error(response, json_status, json_code)
    assert received == []


FORWARDED_IMAGES = {
    "png_6000x6000_rgba": (samples.png_zeros(6000, 6000), "image/png"),
    "png_8000x5000_rgba16": (samples.png_zeros(8000, 5000, bit_depth=16), "image/png"),
    "webp_6000x6000_lossless": (samples.webp_lossless_black(6000, 6000), "image/webp"),
    "pdf_1000_pages": (samples.pdf_pages(1000), "application/pdf"),
    "pdf_nested_forms_2^30": (samples.pdf_nested_forms(30), "application/pdf"),
    "png_truncated": (samples.truncated(samples.png_zeros(2000, 2000)), "image/png"),
}


@pytest.mark.parametrize("name", list(FORWARDED_IMAGES))
def test_files_within_the_limits_are_forwarded_unread_and_intact(edge, edge_pid, received, name):
    """The edge decodes nothing: what its header allows goes on byte for byte (the worker's decoding of these is
    bounded in tests/worker/test_upload_abuse.py)."""
    data, content_type = FORWARDED_IMAGES[name]
    with peak_rss(edge_pid, f"llm-api /detect-fields {name} ({len(data)} bytes)", BUDGET_MIB):
        response = detect(edge, data, content_type)
    assert response.status_code == 200, response.text[:500]
    assert [(r["size"], r["sha256"], r["content_type"]) for r in received] == [(len(data), sha256(data),
                                                                                content_type)]


# -- audio ---------------------------------------------------------------------------------------------------------
LONG_WAVS = {
    "wav_121_s": samples.wav(121, 8000),
    "wav_121_s_claiming_unknown_length": samples.wav(121, 8000, data_size=samples.STREAMING_WAV_SIZE),
    "wav_121_s_claiming_0_s": samples.wav(121, 8000, data_size=0),  # was measured as 0 s and sent on
    "wav_10000_s_at_1_hz": samples.wav(10_000, 1),
}


@pytest.mark.parametrize("name", list(LONG_WAVS))
def test_wavs_over_max_audio_seconds_are_400_at_the_edge(edge, edge_pid, received, name):
    data = LONG_WAVS[name]
    with peak_rss(edge_pid, f"llm-api /voice-feedback {name} ({len(data)} bytes)", BUDGET_MIB):
        error = assert_contract_error(voice(edge, data), 400, "bad_request")
    assert "120" in error["message"]
    assert received == []


FORWARDED_AUDIO = {
    "wav_claims_10_hours": (samples.wav(1.0, claimed_seconds=36_000), "audio/wav"),
    "wav_claims_unknown_length": (samples.wav(1.0, data_size=samples.STREAMING_WAV_SIZE), "audio/wav"),
    "wav_0_bits": (samples.wav(1, bits=0), "audio/wav"),
    "wav_65535_channels": (samples.wav(0.001, 8000, channels=65_535)[:100_000], "audio/wav"),
    "png_as_wav": (samples.real_image("PNG"), "audio/wav"),
    "ogg_junk": (b"OggS" + bytes(range(256)) * 10, "audio/ogg"),
    "mp3_of_zeros_25_mib": (b"ID3" + bytes(25 * MIB - 3), "audio/mpeg"),
}


@pytest.mark.parametrize("name", list(FORWARDED_AUDIO))
def test_audio_the_edge_cannot_judge_is_forwarded_intact(edge, edge_pid, received, name):
    """A header claiming hours over one real second is measured by its bytes; mislabelled or corrupt audio is the
    worker's to decode (its 422s are in tests/worker/test_upload_abuse.py)."""
    data, content_type = FORWARDED_AUDIO[name]
    with peak_rss(edge_pid, f"llm-api /voice-feedback {name} ({len(data)} bytes)", BUDGET_MIB):
        response = voice(edge, data, content_type)
    assert response.status_code == 200, response.text[:500]
    assert [(r["size"], r["sha256"]) for r in received] == [(len(data), sha256(data))]


def test_audio_over_the_upload_limit_is_413(edge, edge_pid, received):
    data = samples.wav(0) + bytes(25 * MIB)
    with peak_rss(edge_pid, f"llm-api /voice-feedback 25 MiB + 44 bytes ({len(data)} bytes)", BUDGET_MIB):
        assert_contract_error(voice(edge, data), 413, "payload_too_large")
    assert received == []


def test_undeclared_bytes_that_are_not_audio_are_415(edge, received):
    for data in (samples.real_image("PNG"), samples.pdf_pages(1), bytes(1000)):
        assert_contract_error(voice(edge, data, "application/octet-stream", "blob"), 415, "unsupported_media_type")
    assert received == []


# -- multipart -----------------------------------------------------------------------------------------------------
AUDIO_PART = (b"audio", b"clip.wav", b"audio/wav", samples.wav(0.5))


@pytest.mark.parametrize(("count", "status", "code"), [(998, 400, "bad_request"), (1000, 413, "payload_too_large"),
                                                       (20_000, 413, "payload_too_large")])
def test_a_thousand_parts(edge, edge_pid, received, count, status, code):
    """Unknown fields are named in a 400; past werkzeug's 1000 parts the form is refused, 413."""
    body, content_type = samples.many_parts(count, AUDIO_PART)
    with peak_rss(edge_pid, f"llm-api /voice-feedback {count + 1} parts ({len(body)} bytes)", BUDGET_MIB):
        error = assert_contract_error(post_raw(edge, "/voice-feedback", body, content_type), status, code)
    assert code != "bad_request" or "'junk'" in error["message"]
    assert received == []


@pytest.mark.parametrize("size", [64 * 1024, 4 * MIB])
@pytest.mark.parametrize("where", ["field_name", "content_type"])
def test_huge_part_headers_are_refused_and_quoted_short(edge, edge_pid, received, where, size):
    huge = b"n" * size
    parts = [(huge, None, None, b"x")] if where == "field_name" else []
    name, filename, content_type, data = AUDIO_PART
    parts.append((name, filename, b"audio/" + huge if where == "content_type" else content_type, data))
    body, header = samples.multipart(parts)
    with peak_rss(edge_pid, f"llm-api /voice-feedback {size >> 10} KiB {where}", BUDGET_MIB):
        response = post_raw(edge, "/voice-feedback", body, header)
    if size > 500_000:  # werkzeug's form buffer
        assert_contract_error(response, 413, "payload_too_large")
    elif where == "field_name":
        assert len(assert_contract_error(response, 400, "bad_request")["message"]) < 300
    else:  # an unknown type, but the extension says audio: forwarded, the type as it came
        assert response.status_code == 200, response.text[:500]
    assert len(received) == (1 if where == "content_type" and size < 500_000 else 0)


def test_a_huge_filename_is_forwarded_as_a_name(edge, received):
    filename = "x" * (64 * 1024) + ".wav"
    assert voice(edge, samples.wav(0.5), "application/octet-stream", filename).status_code == 200
    assert [r["filename"] for r in received] == [filename]


@pytest.mark.parametrize("name", list(samples.TRAVERSAL_FILENAMES))
def test_path_traversal_filenames_do_not_break_the_request(edge, received, name):
    """Traversal, absolute, device and NUL filenames are names, sent on as names: 200. A part header that is not
    UTF-8 makes werkzeug drop the whole form (it reads a form it cannot parse as empty): the missing file's 400."""
    filename = samples.TRAVERSAL_FILENAMES[name]
    audio_body, audio_header = samples.multipart([(b"audio", filename, b"audio/wav", samples.wav(0.5))])
    image_body, image_header = samples.multipart([(b"image", filename, b"image/png", samples.real_image("PNG"))])
    audio = post_raw(edge, "/voice-feedback", audio_body, audio_header)
    image = post_raw(edge, "/detect-fields", image_body, image_header)
    if name == "non_utf8":
        assert_contract_error(audio, 400, "bad_request")
        assert_contract_error(image, 400, "bad_request")
        assert received == []
        return
    assert audio.status_code == 200, audio.text[:500]
    assert image.status_code == 200, image.text[:500]
    assert [r["size"] for r in received] == [len(samples.wav(0.5)), len(samples.real_image("PNG"))]
    assert all(r["filename"] for r in received)  # sent on as names, whatever they say


def test_filenames_pointing_into_a_directory_write_nothing_there(edge, received, tmp_path):
    names = [f"{'../' * 12}{tmp_path}/pwned.wav".encode(), f"{tmp_path}/abs.wav".encode(),
             f"{tmp_path}/nul.wav".encode() + b"\x00.txt"]
    for filename in names:
        body, header = samples.multipart([(b"audio", filename, b"audio/wav", samples.wav(0.5))])
        assert post_raw(edge, "/voice-feedback", body, header).status_code == 200
    assert len(received) == len(names)
    assert list(tmp_path.iterdir()) == []


BROKEN_FORMS = {
    "no_boundary": (samples.multipart([AUDIO_PART])[0], "multipart/form-data"),
    "wrong_boundary": (samples.multipart([AUDIO_PART])[0], "multipart/form-data; boundary=other"),
    "no_content_disposition": (b"--b\r\nContent-Type: audio/wav\r\n\r\nxx\r\n--b--\r\n",
                               "multipart/form-data; boundary=b"),
    "never_closed": (samples.multipart([AUDIO_PART])[0][:-30],
                     "multipart/form-data; boundary=" + samples.BOUNDARY.decode()),
}


@pytest.mark.parametrize("name", list(BROKEN_FORMS))
def test_broken_multipart_is_400(edge, received, name):
    body, content_type = BROKEN_FORMS[name]
    assert_contract_error(post_raw(edge, "/voice-feedback", body, content_type), 400, "bad_request")
    assert received == []
