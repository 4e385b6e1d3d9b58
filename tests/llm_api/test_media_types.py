"""The llm-api and the model-worker accept exactly the same audio and image types.

Each service is its own image, so each holds its lists (`llm_api/sniffing.py`, `model_worker/media.py`); the llm-api
checks uploads before the worker sees them, so a type one accepts and the other refuses is a bug either way (the
worker once took `application/ogg` and the llm-api answered it 415). These tests import both and compare."""

from __future__ import annotations

import io
import itertools

import pytest
import requests
from PIL import Image

from llm_api import sniffing
from llm_api.errors import ApiError as LlmApiError
from llm_api.schemas import check_image
from model_worker import media as worker_media
from model_worker.errors import ApiError as WorkerError
from tests.llm_api.conftest import assert_error
from tests.worker.media_samples import AUDIO_FORMATS, encode_audio


def test_the_type_lists_are_equal():
    assert sniffing.AUDIO_TYPES == worker_media.AUDIO_MIME_TYPES
    assert sniffing.AUDIO_EXTENSIONS == worker_media.AUDIO_EXTENSIONS
    assert sniffing.IMAGE_TYPES == worker_media.IMAGE_MIME_TYPES
    assert sniffing.GENERIC_TYPES == worker_media.GENERIC_MIME_TYPES
    assert (sniffing.AUDIO_FORMATS_TEXT, sniffing.IMAGE_FORMATS_TEXT) == (
        worker_media.AUDIO_FORMATS_TEXT, worker_media.IMAGE_FORMATS_TEXT)
    assert "application/ogg" in sniffing.AUDIO_TYPES


AUDIO_SAMPLES = {name: encode_audio(name, seconds=0.3) for name in AUDIO_FORMATS}
NOT_AUDIO = {"png": b"\x89PNG\r\n\x1a\n" + bytes(32), "webp": b"RIFF\x10\x00\x00\x00WEBPVP8 ", "text": b"hello",
             "zeros": bytes(64)}
DECLARED_AUDIO = [*sorted(sniffing.AUDIO_TYPES | sniffing.GENERIC_TYPES),
                  "audio/webm;codecs=opus", "AUDIO/OGG", "audio/x-caf", "image/png", "text/plain", None]
FILENAMES = ["a.ogg", "a.OPUS", "a.bin", "recording", "a.png", None]


@pytest.mark.parametrize("declared", DECLARED_AUDIO)
def test_both_services_take_the_same_audio_uploads(declared):
    for (kind, data), filename in itertools.product({**AUDIO_SAMPLES, **NOT_AUDIO}.items(), FILENAMES):
        ours = sniffing.audio_type_accepted(declared, filename, data)
        worker = worker_media.audio_type_accepted(declared, filename, data)
        assert ours == worker, (declared, filename, kind)
        assert sniffing.sniff_audio(data) == worker_media.sniff_audio(data), kind


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, format=fmt)
    return buffer.getvalue()


IMAGES = {fmt: _image(fmt) for fmt in ("PNG", "JPEG", "WEBP", "GIF", "PDF")} | {"text": b"not an image"}
DECLARED_IMAGES = [*sorted(sniffing.IMAGE_TYPES | sniffing.GENERIC_TYPES), "image/gif", "text/plain", "IMAGE/PNG"]


def _llm_api_verdict(data: bytes, declared: str) -> str:
    try:
        check_image(data, sniffing.base_type(declared), max_pixels=40_000_000)
    except LlmApiError as err:
        return err.code
    return "accepted"


def _worker_verdict(data: bytes, declared: str) -> str:
    try:
        worker_media.check_image_type(declared, data)
        worker_media.decode_image(data, max_pixels=40_000_000)
    except WorkerError as err:
        return err.code
    return "accepted"


@pytest.mark.parametrize("declared", DECLARED_IMAGES)
def test_both_services_take_the_same_image_uploads(declared):
    verdicts = {kind: (_llm_api_verdict(data, declared), _worker_verdict(data, declared))
                for kind, data in IMAGES.items()}
    assert all(ours == worker for ours, worker in verdicts.values()), verdicts


def test_application_ogg_audio_passes_the_llm_api_to_the_worker(api):
    """End to end through the real llm-api (gunicorn): an OGG/Opus upload declared `application/ogg` is accepted and
    sent on to the worker (none runs behind this service, so the answer is 503 from reaching for it, not 415)."""
    response = requests.post(api.url + "/voice-feedback", timeout=30,
                             files={"audio": ("clip", AUDIO_SAMPLES["ogg_opus"], "application/ogg")})
    error = assert_error(response, 503, "backend_unavailable")
    assert "model-worker" in error["message"]
