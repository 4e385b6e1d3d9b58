"""The request limits are configuration (the contract's defaults, the model-worker's variable names), and every route
that checks one reads it from the app's Config (Flask test client, no backends needed: each request is refused
before any backend call)."""

from __future__ import annotations

import io

import pytest

from llm_api.app import create_app
from llm_api.config import MIB, ConfigError, load_config
from tests.llm_api.media_samples import png_header, wav_bytes


def test_defaults_are_the_contracts():
    config = load_config({})
    assert (config.max_json_bytes, config.max_prompt_chars) == (1 * MIB, 32_000)
    assert (config.max_audio_seconds, config.max_image_pixels) == (120.0, 40_000_000)


def test_values_come_from_the_environment():
    config = load_config({"MAX_JSON_MB": "0.5", "MAX_PROMPT_CHARS": "10", "MAX_AUDIO_SECONDS": "1.5",
                          "MAX_IMAGE_PIXELS": "100"})
    assert (config.max_json_bytes, config.max_prompt_chars) == (MIB // 2, 10)
    assert (config.max_audio_seconds, config.max_image_pixels) == (1.5, 100)


@pytest.mark.parametrize(("name", "value"), [
    ("MAX_JSON_MB", "0"), ("MAX_JSON_MB", "lots"), ("MAX_PROMPT_CHARS", "0"), ("MAX_PROMPT_CHARS", "1.5"),
    ("MAX_AUDIO_SECONDS", "-1"), ("MAX_AUDIO_SECONDS", "long"), ("MAX_IMAGE_PIXELS", "0"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


@pytest.fixture()
def client(tmp_path):
    config = load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3"), "OLLAMA_URL": "http://127.0.0.1:9",
                          "WORKER_URL": "http://127.0.0.1:9", "MAX_JSON_MB": "0.01", "MAX_PROMPT_CHARS": "10",
                          "MAX_AUDIO_SECONDS": "1", "MAX_IMAGE_PIXELS": "100"})
    return create_app(config).test_client()


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    return response.json["error"]["message"]


def test_each_route_applies_the_configured_limit(client):
    assert "10 characters" in _error(client.post("/ask-llm", json={"prompt": "x" * 11}), 400, "bad_request")
    assert "10 characters" in _error(client.post("/ask-llm", json={"prompt": "x", "system": "y" * 11}), 400,
                                     "bad_request")
    _error(client.post("/ask-llm", json={"prompt": "x" * 20_000}), 413, "payload_too_large")
    voice = client.post("/voice-feedback", data={"audio": (io.BytesIO(wav_bytes(2)), "a.wav", "audio/wav")})
    assert "at most 1 s" in _error(voice, 400, "bad_request")
    voice_prompt = client.post("/voice-feedback", data={"prompt": "x" * 11}, content_type="multipart/form-data")
    assert "prompt" in _error(voice_prompt, 400, "bad_request")
    detect = client.post("/detect-fields", data={"image": (io.BytesIO(png_header(20, 10)), "a.png", "image/png")})
    assert "megapixels" in _error(detect, 400, "bad_request")
