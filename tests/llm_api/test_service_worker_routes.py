"""`/voice-feedback` and `/detect-fields` with no worker running: edge validation (400/413/415/422) happens
before forwarding, and a valid request gets 503 `backend_unavailable` because the worker cannot be reached."""

from __future__ import annotations

import base64

import pytest
import requests

from tests.llm_api.conftest import API_KEY, assert_error
from tests.llm_api.media_samples import image_bytes, png_header, wav_bytes

WAV = wav_bytes(1.0)
PNG = image_bytes("PNG")
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def voice(api, files=None, data=None, headers=None, **kwargs) -> requests.Response:
    return requests.post(api.url + "/voice-feedback", files=files, data=data, headers=headers, timeout=30, **kwargs)


def detect(api, files=None, data=None, headers=None, **kwargs) -> requests.Response:
    return requests.post(api.url + "/detect-fields", files=files, data=data, headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize(("name", "content_type"), [
    ("a.wav", "audio/wav"), ("a.webm", "audio/webm;codecs=opus"), ("blob", "application/octet-stream"),
])
def test_valid_voice_feedback_reaches_for_the_worker(api, name, content_type):
    response = voice(api, files={"audio": (name, WAV, content_type)},
                     data={"prompt": "発音を評価して", "return_audio": "true"})
    err = assert_error(response, 503, "backend_unavailable")
    assert "model-worker" in err["message"] and int(response.headers["Retry-After"]) > 0


def test_voice_feedback_wants_multipart(api):
    assert_error(requests.post(api.url + "/voice-feedback", json={"audio": "x"}, timeout=10), 415,
                 "unsupported_media_type")
    assert_error(requests.post(api.url + "/voice-feedback", data=b"RIFF", headers={"Content-Type": "audio/wav"},
                               timeout=10), 415, "unsupported_media_type")


@pytest.mark.parametrize(("files", "data", "status", "code", "word"), [
    ({"other": ("a.txt", b"x", "text/plain")}, {}, 400, "bad_request", "other"),
    ({"prompt": (None, "x")}, {}, 400, "bad_request", "audio"),
    ({"audio": ("a.wav", b"", "audio/wav")}, {}, 400, "bad_request", "empty"),
    ({"audio": ("a.png", PNG, "image/png")}, {}, 415, "unsupported_media_type", "image/png"),
    ({"audio": ("a.bin", b"hello world", "application/octet-stream")}, {}, 415, "unsupported_media_type", "audio"),
    ({"audio": ("a.wav", WAV, "audio/wav")}, {"return_audio": "yes"}, 400, "bad_request", "return_audio"),
    ({"audio": ("a.wav", WAV, "audio/wav")}, {"prompt": "x" * 32_001}, 400, "bad_request", "prompt"),
    ({"audio": ("a.wav", WAV, "audio/wav")}, {"prompt": "  "}, 400, "bad_request", "prompt"),
    ({"audio": ("a.wav", WAV, "audio/wav")}, {"session_id": "bad id"}, 400, "bad_request", "session_id"),
    ({"audio": ("a.wav", WAV, "audio/wav")}, {"session_id": "no-such-session"}, 404, "not_found", "no-such-session"),
    ({"audio": ("a.wav", WAV, "audio/wav")}, {"speaker": "Chelsie"}, 400, "bad_request", "speaker"),
    ({"audio": ("long.wav", wav_bytes(121), "audio/wav")}, {}, 400, "bad_request", "120"),
])
def test_voice_feedback_bad_input(api, files, data, status, code, word):
    err = assert_error(voice(api, files=files, data=data), status, code)
    assert word in err["message"]


def test_audio_over_max_upload_mb_is_413(api_auth):
    big = wav_bytes(40, rate=16000)  # ~1.3 MB > MAX_UPLOAD_MB=1 of this service
    assert_error(voice(api_auth, files={"audio": ("a.wav", big, "audio/wav")}, headers=AUTH), 413,
                 "payload_too_large")


def test_body_far_over_max_upload_mb_is_413_without_hanging(api_auth):
    huge = b"RIFF" + b"\x00" * (3 * 1024 * 1024)
    try:
        response = voice(api_auth, files={"audio": ("a.wav", huge, "audio/wav")}, headers=AUTH)
    except requests.ConnectionError:
        pytest.fail("the server reset the connection instead of answering 413")
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(("name", "content_type", "data"), [
    ("form.png", "image/png", PNG), ("form.jpg", "image/jpeg", image_bytes("JPEG")),
    ("form.webp", "image/webp", image_bytes("WEBP")), ("form.pdf", "application/pdf", b"%PDF-1.4\n%...\n"),
    ("blob", "application/octet-stream", PNG),
])
def test_valid_detect_multipart_reaches_for_the_worker(api, name, content_type, data):
    assert_error(detect(api, files={"image": (name, data, content_type)}, data={"prompt": "申請者欄"}), 503,
                 "backend_unavailable")


def test_valid_detect_json_reaches_for_the_worker(api):
    response = requests.post(api.url + "/detect-fields", timeout=10,
                             json={"image_base64": base64.b64encode(PNG).decode(), "prompt": "fields"})
    assert_error(response, 503, "backend_unavailable")


@pytest.mark.parametrize(("files", "status", "code", "word"), [
    ({"prompt": (None, "x")}, 400, "bad_request", "image"),
    ({"image": ("a.txt", b"hello", "text/plain")}, 415, "unsupported_media_type", "text/plain"),
    ({"image": ("a.gif", b"GIF89a\x01\x00\x01\x00", "application/octet-stream")}, 415, "unsupported_media_type",
     "PNG"),
    ({"image": ("a.png", b"this is not a png", "image/png")}, 422, "unprocessable_media", "image/png"),
    ({"image": ("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg")}, 422, "unprocessable_media", "JPEG"),
    ({"image": ("big.png", png_header(10_000, 5_000), "image/png")}, 400, "bad_request", "megapixels"),
    ({"image": ("a.png", PNG, "image/png"), "prompt": (None, "x" * 32_001)}, 400, "bad_request", "prompt"),
    ({"image": ("a.png", PNG, "image/png"), "mode": (None, "fast")}, 400, "bad_request", "mode"),
    ({"image": ("a.png", b"", "image/png")}, 400, "bad_request", "empty"),
])
def test_detect_multipart_bad_input(api, files, status, code, word):
    err = assert_error(detect(api, files=files), status, code)
    assert word in err["message"]


@pytest.mark.parametrize(("body", "status", "code", "word"), [
    ({}, 400, "bad_request", "image_base64"), ({"image_base64": 5}, 400, "bad_request", "image_base64"),
    ({"image_base64": "@@not base64@@"}, 400, "bad_request", "base64"),
    ({"image_base64": base64.b64encode(b"GIF89a....").decode()}, 415, "unsupported_media_type", "PNG"),
    ({"image_base64": base64.b64encode(png_header(8000, 8000)).decode()}, 400, "bad_request", "megapixels"),
    ({"image_base64": base64.b64encode(PNG).decode(), "prompt": 3}, 400, "bad_request", "prompt"),
    ({"image_base64": base64.b64encode(PNG).decode(), "bbox": 3}, 400, "bad_request", "bbox"),
    ([1], 400, "bad_request", "object"),
])
def test_detect_json_bad_input(api, body, status, code, word):
    err = assert_error(requests.post(api.url + "/detect-fields", json=body, timeout=10), status, code)
    assert word in err["message"]


def test_detect_wants_multipart_or_json(api):
    assert_error(requests.post(api.url + "/detect-fields", data=PNG, headers={"Content-Type": "image/png"},
                               timeout=10), 415, "unsupported_media_type")


def test_image_over_limit_is_413_both_ways(api_auth):
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024 + 100)  # over this service's 1 MiB image limit
    assert_error(detect(api_auth, files={"image": ("a.png", big, "image/png")}, headers=AUTH), 413,
                 "payload_too_large")
    response = requests.post(api_auth.url + "/detect-fields", json={"image_base64": base64.b64encode(big).decode()},
                             headers=AUTH, timeout=10)
    assert_error(response, 413, "payload_too_large")
