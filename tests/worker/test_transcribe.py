"""`POST /omni/transcribe`: speech to text alone, on the tiny Omni checkpoint (real loading, processor, generate).

In-process through the app factory (the shared `loaded_app`, or an app handed that app's loaded Omni with another
config), and once on the real worker under gunicorn: the answer's shape, the upload errors (the same as
/omni/feedback's), a disabled or loading Omni, the transcript pass alone (one greedy generate with the transcript
budget, never the feedback's), OMNI_TRANSCRIPT=false not switching it off, running out of time (504), metrics."""

from __future__ import annotations

import dataclasses
import io
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from model_worker.app import create_app
from model_worker.errors import BackendTimeout
from model_worker.media import decode_audio
from model_worker.omni import OmniModel, TranscribeRequest, transcript_token_budget
from model_worker.prompts import OMNI_ASR_SYSTEM_PROMPT, OMNI_SPEECH_SYSTEM_PROMPT
from tests.worker.conftest import make_config
from tests.worker.media_samples import AUDIO_FORMATS, encode_audio
from tests.worker.stack import model_worker_service

SHAPE = {"transcript", "model", "duration_s", "timings"}


def _post(client, data, *, filename="turn.wav", mime="audio/wav", **form):
    return client.post("/omni/transcribe", data={"audio": (io.BytesIO(data), filename, mime), **form},
                       content_type="multipart/form-data")


def _omni(app) -> OmniModel:
    return app.extensions["model_slots"]["omni"].model


def _app_with(loaded_app, model: OmniModel, **env: str):
    """A fresh app (its own config) serving an already loaded Omni: no second load."""
    app = create_app(dataclasses.replace(loaded_app.config["WORKER"], **env), start_loading=False)
    slot = app.extensions["model_slots"]["omni"]
    slot.set_ready(model, 0.0)
    return app


class GenerateCalls:
    """Records every generate the Omni model runs (the thinker's and, for speech, the whole model's)."""

    def __init__(self, model: OmniModel, monkeypatch):
        self.thinker: list[dict] = []
        self.full: list[dict] = []
        thinker_generate, full_generate = model.thinker.generate, model.model.generate

        def on_thinker(**kwargs):
            self.thinker.append(kwargs)
            return thinker_generate(**kwargs)

        def on_full(**kwargs):
            self.full.append(kwargs)
            return full_generate(**kwargs)

        monkeypatch.setattr(model.thinker, "generate", on_thinker)
        if model.model is not model.thinker:
            monkeypatch.setattr(model.model, "generate", on_full)


def test_transcribe_answers_the_contract_shape(client, loaded_app):
    response = _post(client, encode_audio("wav", seconds=2.0), language="ja")
    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == SHAPE
    assert isinstance(body["transcript"], str) and body["transcript"] == body["transcript"].strip()
    assert body["model"] == loaded_app.config["WORKER"].omni_model
    assert body["duration_s"] == pytest.approx(2.0, abs=0.05)
    timings = body["timings"]
    assert {"total_ms", "decode_ms", "inference_ms"} <= set(timings)
    assert timings["decode_ms"] > 0 and timings["inference_ms"] > 0 and timings["total_ms"] >= timings["inference_ms"]
    assert response.headers["X-Request-ID"] and response.headers["Server-Timing"].startswith("total;dur=")


@pytest.mark.parametrize("name", ["webm_opus", "ogg_opus", "m4a_aac"])
def test_browser_formats_are_transcribed(client, name):
    _, _, _, mime, extension = AUDIO_FORMATS[name]
    response = _post(client, encode_audio(name, seconds=1.0), filename=f"turn.{extension}", mime=mime)
    assert response.status_code == 200, response.json
    assert isinstance(response.json["transcript"], str)
    assert response.json["duration_s"] == pytest.approx(1.0, abs=0.05)


def test_the_transcript_pass_runs_alone_with_its_budget_and_greedy(client, loaded_app, monkeypatch):
    calls = GenerateCalls(_omni(loaded_app), monkeypatch)
    seconds = 3.0
    response = _post(client, encode_audio("wav", seconds=seconds))
    assert response.status_code == 200, response.json
    assert calls.full == []  # no spoken answer
    assert len(calls.thinker) == 1  # no feedback generation: only the transcript pass
    (kwargs,) = calls.thinker
    # the transcript's budget, scaled to the clip, not the feedback's OMNI_MAX_NEW_TOKENS
    feedback_budget = loaded_app.config["WORKER"].omni_max_new_tokens
    assert kwargs["max_new_tokens"] == transcript_token_budget(seconds) != feedback_budget
    assert kwargs["do_sample"] is False
    assert "input_features" in kwargs  # over the recording's features


def test_the_feedback_still_runs_two_passes(client, loaded_app, monkeypatch):
    """The control for the test above: the same counter sees the feedback and its transcript."""
    calls = GenerateCalls(_omni(loaded_app), monkeypatch)
    response = client.post("/omni/feedback", data={"audio": (io.BytesIO(encode_audio("wav", 1.0)), "a.wav",
                                                             "audio/wav")}, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert len(calls.thinker) == 2


def test_the_prompt_is_speech_recognition_with_the_language_hint(loaded_app):
    model = _omni(loaded_app)
    audio = decode_audio(encode_audio("wav", seconds=0.5), 120)
    prepared = model.preprocess(TranscribeRequest(audio=audio, language="ja-JP"))
    text = model.processor.tokenizer.decode(prepared["transcript_inputs"]["input_ids"][0])
    system, user = text.split("<|im_start|>user\n", 1)
    assert OMNI_ASR_SYSTEM_PROMPT in system and OMNI_SPEECH_SYSTEM_PROMPT not in system
    assert "Transcribe" in user and "'ja-JP'" in user
    plain = model.preprocess(TranscribeRequest(audio=audio))
    assert "ja-JP" not in model.processor.tokenizer.decode(plain["transcript_inputs"]["input_ids"][0])
    # the audio placeholders match the features, as the processor expands them itself
    assert int((prepared["transcript_inputs"]["input_ids"] == model.processor.audio_token_id).sum()) > 0


def test_omni_transcript_false_does_not_switch_it_off(loaded_app):
    model = _omni(loaded_app)
    config = dataclasses.replace(model.config, omni_transcript=False)
    quiet = OmniModel(model.model, model.processor, model.placement, config)
    app = _app_with(loaded_app, quiet, omni_transcript=False)
    client = app.test_client()
    response = _post(client, encode_audio("wav", seconds=1.0))
    assert response.status_code == 200, response.json
    assert isinstance(response.json["transcript"], str)
    feedback = client.post("/omni/feedback", data={"audio": (io.BytesIO(encode_audio("wav", 1.0)), "a.wav",
                                                             "audio/wav")}, content_type="multipart/form-data")
    assert feedback.status_code == 200 and feedback.json["transcript"] is None  # the feedback's extra pass is off


def test_running_out_of_time_is_504_not_null(loaded_app, monkeypatch):
    model = _omni(loaded_app)
    app = _app_with(loaded_app, model, request_timeout_s=1.0)
    generate = model.thinker.generate

    def slow(**kwargs):
        time.sleep(1.2)  # past REQUEST_TIMEOUT_S: the StopAtDeadline criterion ends it at its first step
        return generate(**kwargs)

    monkeypatch.setattr(model.thinker, "generate", slow)
    response = _post(app.test_client(), encode_audio("wav", seconds=0.5))
    assert response.status_code == 504, response.json
    assert response.json["error"]["code"] == "backend_timeout"


def test_the_transcription_past_its_deadline_raises_504_rather_than_answering_null(loaded_app):
    model = _omni(loaded_app)
    prepared = model.preprocess(TranscribeRequest(audio=decode_audio(encode_audio("wav", seconds=0.5), 120)))
    with pytest.raises(BackendTimeout, match="transcription ran past"):
        model.forward(prepared, time.monotonic() - 1)


@pytest.mark.parametrize(
    ("data", "mime", "filename", "status", "code"),
    [
        (b"", "audio/wav", "a.wav", 400, "bad_request"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage", "audio/wav", "a.wav", 422, "unprocessable_media"),
        (b"OggS" + bytes(300), "audio/ogg", "a.ogg", 422, "unprocessable_media"),
        (b"just some text", "text/plain", "a.txt", 415, "unsupported_media_type"),
    ],
)
def test_bad_uploads_get_contract_errors(client, data, mime, filename, status, code):
    response = _post(client, data, filename=filename, mime=mime)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("language", ["ja_JP", "日本語", "x" * 17, "en US", "ja\n"])
def test_a_bad_language_hint_is_400(client, language):
    response = _post(client, encode_audio("wav", seconds=0.5), language=language)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "bad_request" and "language" in response.json["error"]["message"]


def test_an_empty_language_is_none(client):
    assert _post(client, encode_audio("wav", seconds=0.5), language="").status_code == 200


def test_missing_audio_and_not_multipart(client):
    missing = client.post("/omni/transcribe", data={"language": "en"}, content_type="multipart/form-data")
    assert missing.status_code == 400 and missing.json["error"]["code"] == "bad_request"
    as_json = client.post("/omni/transcribe", json={"audio": "x"})
    assert as_json.status_code == 415 and as_json.json["error"]["code"] == "unsupported_media_type"


def test_audio_over_the_limits(tiny_env, loaded_app):
    app = _app_with(loaded_app, _omni(loaded_app), max_audio_seconds=1.0)
    long = _post(app.test_client(), encode_audio("ogg_opus", seconds=3.0), filename="a.ogg", mime="audio/ogg")
    assert long.status_code == 400 and "limit" in long.json["error"]["message"]
    limit = loaded_app.config["WORKER"].max_audio_bytes
    big = _post(loaded_app.test_client(), b"\x00" * (limit + 10))
    assert big.status_code == 413 and big.json["error"]["code"] == "payload_too_large"


def test_disabled_omni_is_404_model_not_found(tiny_env):
    app = create_app(make_config(tiny_env, ENABLED_MODELS="detector"), start_loading=False)
    response = _post(app.test_client(), encode_audio("wav", seconds=0.5))
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"] == "model_not_found" and "ENABLED_MODELS" in response.json["error"]["message"]


def test_loading_omni_is_503_with_retry_after(tiny_env):
    app = create_app(make_config(tiny_env, ENABLED_MODELS="omni", RETRY_AFTER_S="7"), start_loading=False)
    response = _post(app.test_client(), encode_audio("wav", seconds=0.5))
    assert response.status_code == 503, response.json
    assert response.json["error"]["code"] == "backend_unavailable" and response.headers["Retry-After"] == "7"


# -- the real worker (gunicorn, the Dockerfile's CMD) -----------------------------------------------------------
@pytest.mark.slow
def test_on_the_real_worker_with_its_metrics(tiny_checkpoints):
    with model_worker_service(tiny_checkpoints, env={"ENABLED_MODELS": "omni"}, name="transcribe") as worker:
        response = requests.post(worker.url + "/omni/transcribe", timeout=120, data={"language": "en"},
                                 files={"audio": ("turn.wav", encode_audio("wav", 1.5, channels=1), "audio/wav")},
                                 headers={"X-Request-ID": "transcribe-1"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == SHAPE and isinstance(body["transcript"], str)
        assert body["model"] == str(tiny_checkpoints["omni"]) and body["duration_s"] == pytest.approx(1.5, abs=0.05)
        refused = requests.post(worker.url + "/omni/transcribe", timeout=60,
                                files={"audio": ("a.txt", b"just some text", "text/plain")})
        assert refused.status_code == 415 and refused.json()["error"]["code"] == "unsupported_media_type"
        metrics = requests.get(worker.url + "/metrics", timeout=10).text
    counted = {(s.labels["status"], s.value) for family in text_string_to_metric_families(metrics)
               for s in family.samples if s.name == "model_worker_http_requests_total"
               and s.labels.get("route") == "/omni/transcribe" and s.labels.get("method") == "POST"}
    assert counted == {("200", 1.0), ("415", 1.0)}
    assert "request_id=transcribe-1" in worker.log()
