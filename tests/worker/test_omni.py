"""Qwen2.5-Omni through the worker's HTTP routes, on the tiny checkpoint (real loading, processor, generate)."""

import base64
import io
import json

import pytest
import soundfile as sf

from model_worker.prompts import OMNI_SPEECH_SYSTEM_PROMPT
from tests.worker.media_samples import AUDIO_FORMATS, encode_audio


def _post_audio(client, data, *, filename="clip.webm", mime="audio/webm", **form):
    return client.post(
        "/omni/feedback", data={"audio": (io.BytesIO(data), filename, mime), **form},
        content_type="multipart/form-data",
    )


def test_text_feedback(client):
    response = _post_audio(client, encode_audio("webm_opus", seconds=2.0))
    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"feedback", "transcript", "audio", "model", "duration_s", "timings"}
    assert isinstance(body["feedback"], str)
    assert body["audio"] is None
    assert body["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert body["transcript"] is None or isinstance(body["transcript"], str)
    timings = body["timings"]
    assert timings["decode_ms"] > 0 and timings["inference_ms"] > 0 and timings["total_ms"] >= timings["inference_ms"]
    assert response.headers["X-Request-ID"] and response.headers["Server-Timing"].startswith("total;dur=")


def test_spoken_feedback_is_a_24k_wav(client):
    response = _post_audio(client, encode_audio("m4a_aac", seconds=1.0), filename="a.m4a", mime="audio/mp4",
                           return_audio="true", prompt="Comment on my pace.")
    assert response.status_code == 200, response.json
    audio = response.json["audio"]
    assert audio["format"] == "wav" and audio["sample_rate"] == 24000
    samples, rate = sf.read(io.BytesIO(base64.b64decode(audio["base64"])))
    assert rate == 24000 and samples.ndim == 1 and samples.size > 0


@pytest.mark.parametrize("name", list(AUDIO_FORMATS))
def test_every_format_is_accepted(client, name, monkeypatch):
    _, _, _, mime, extension = AUDIO_FORMATS[name]
    response = _post_audio(client, encode_audio(name, seconds=1.0), filename=f"a.{extension}", mime=mime)
    assert response.status_code == 200, response.json
    assert response.json["duration_s"] == pytest.approx(1.0, abs=0.05)


def test_speech_uses_the_official_system_prompt_and_puts_the_instruction_in_the_user_turn(loaded_app):
    from model_worker.media import decode_audio
    from model_worker.omni import FeedbackRequest

    model = loaded_app.extensions["model_slots"]["omni"]._model
    audio = decode_audio(encode_audio("wav", seconds=0.5), 120)
    prepared = model.preprocess(FeedbackRequest(audio=audio, instruction="Rate my accent.", return_audio=True))
    text = model.processor.tokenizer.decode(prepared["feedback_inputs"]["input_ids"][0])
    system, user = text.split("<|im_start|>user\n", 1)
    assert OMNI_SPEECH_SYSTEM_PROMPT in system
    assert "Rate my accent." in user and "Rate my accent." not in system


@pytest.mark.parametrize(
    ("data", "mime", "filename", "status", "code"),
    [
        (b"", "audio/wav", "a.wav", 400, "bad_request"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage", "audio/wav", "a.wav", 422, "unprocessable_media"),
        (b"just some text", "text/plain", "a.txt", 415, "unsupported_media_type"),
    ],
)
def test_bad_uploads_get_contract_errors(client, data, mime, filename, status, code):
    response = _post_audio(client, data, filename=filename, mime=mime)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["request_id"] == response.headers["X-Request-ID"]


def test_too_long_audio_is_400(tiny_env):
    from model_worker.app import create_app
    from tests.worker.conftest import make_config

    app = create_app(make_config(tiny_env, MAX_AUDIO_SECONDS="1", ENABLED_MODELS="omni"), loaders={
        "omni": lambda: pytest.fail("decode must refuse before any model is needed"),
    }, start_loading=False)
    app.extensions["model_slots"]["omni"]._state = "ready"
    response = _post_audio(app.test_client(), encode_audio("ogg_opus", seconds=3.0), filename="a.ogg",
                           mime="audio/ogg")
    assert response.status_code == 400 and "limit" in response.json["error"]["message"]


def test_audio_over_the_byte_limit_is_413(client, loaded_app):
    limit = loaded_app.config["WORKER"].max_audio_bytes
    response = _post_audio(client, b"\x00" * (limit + 10), filename="a.wav", mime="audio/wav")
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"


def test_missing_audio_field_and_bad_flag(client):
    assert client.post("/omni/feedback", data={"x": "y"}, content_type="multipart/form-data").status_code == 400
    response = _post_audio(client, encode_audio("wav", 0.5), filename="a.wav", mime="audio/wav",
                           return_audio="perhaps")
    assert response.status_code == 400


def test_chat(client):
    response = client.post("/omni/chat", json={
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}],
        "options": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 5, "seed": 7},
    })
    assert response.status_code == 200, response.json
    body = response.json
    assert isinstance(body["answer"], str)
    assert body["timings"]["completion_tokens"] <= 5 and body["timings"]["prompt_tokens"] > 0


def test_chat_seed_makes_sampling_repeatable(client):
    payload = {"messages": [{"role": "user", "content": "Tell me a story."}],
               "options": {"temperature": 1.5, "seed": 42, "max_tokens": 8}}
    first = client.post("/omni/chat", json=payload).json["answer"]
    assert client.post("/omni/chat", json=payload).json["answer"] == first


def test_chat_stream(client):
    response = client.post("/omni/chat", json={"messages": [{"role": "user", "content": "Hi"}], "stream": True,
                                               "options": {"temperature": 0}})
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
    lines = [json.loads(line) for line in response.data.decode().splitlines()]
    assert lines[0]["type"] == "start"
    assert lines[-1]["type"] == "done"
    tokens = [line["text"] for line in lines if line["type"] == "token"]
    assert lines[-1]["answer"] == "".join(tokens)
    plain = client.post("/omni/chat", json={"messages": [{"role": "user", "content": "Hi"}],
                                            "options": {"temperature": 0}}).json["answer"]
    assert lines[-1]["answer"] == plain


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"messages": []},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"messages": [{"role": "user", "content": 3}]},
        {"messages": [{"role": "assistant", "content": "last is not user"}]},
        {"messages": [{"role": "user", "content": "x"}], "options": {"temperature": 3}},
        {"messages": [{"role": "user", "content": "x"}], "options": {"max_tokens": 0}},
        {"messages": [{"role": "user", "content": "x"}], "options": {"seed": "abc"}},
        {"messages": [{"role": "user", "content": "x"}], "stream": "yes"},
    ],
)
def test_chat_validation(client, payload):
    response = client.post("/omni/chat", json=payload)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/omni/chat", "/detect", "/score", "/invocations"])
@pytest.mark.parametrize("body", [
    b"[" * 100_000,  # json's decoder raises RecursionError, not ValueError
    b'{"messages": [{"role": "user", "content": "\\ud800"}], "image_base64": "x", "inputs": "x"}',  # lone surrogate
    b'{"\\udc00": 1}',
])
def test_json_that_python_parses_but_cannot_use_is_400(client, path, body):
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "bad_request"


def test_chat_escaped_surrogate_pair_is_fine(client):
    body = b'{"messages": [{"role": "user", "content": "\\ud83d\\ude00 hi"}], "options": {"max_tokens": 2}}'
    assert client.post("/omni/chat", data=body, content_type="application/json").status_code == 200


def test_chat_body_over_the_json_limit_is_413(client):
    """/omni/chat takes no upload: the contract's 1 MiB JSON limit applies, not the upload-sized body limit."""
    body = json.dumps({"messages": [{"role": "user", "content": "x" * (1024 * 1024 + 10)}]})
    response = client.post("/omni/chat", data=body, content_type="application/json")
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"


def test_chat_needs_json(client):
    assert client.post("/omni/chat", data="hello", content_type="text/plain").status_code == 415
