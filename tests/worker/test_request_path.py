"""What happens to a request between the route and the model: preprocessing outside the model lock, the transcript
pass, deadlines across the thinker and the talker, and running out of memory (503, memory released, still serving)."""

from __future__ import annotations

import base64
import functools
import io
import threading
import time

import pytest
import torch

from model_worker.app import create_app
from model_worker.generation import StopAtDeadline
from model_worker.media import decode_audio
from model_worker.omni import FeedbackRequest, transcript_token_budget
from model_worker.prompts import OMNI_ASR_SYSTEM_PROMPT, OMNI_SPEECH_SYSTEM_PROMPT
from tests.worker.conftest import make_config
from tests.worker.media_samples import encode_audio, form_image, image_bytes


def _feedback(client, seconds=1.0, **form):
    data = {"audio": (io.BytesIO(encode_audio("wav", seconds=seconds)), "a.wav", "audio/wav"), **form}
    return client.post("/omni/feedback", data=data, content_type="multipart/form-data")


def _detect(client):
    return client.post("/detect", json={"image_base64": base64.b64encode(image_bytes(form_image(300, 200))).decode()})


def _omni(app):
    return app.extensions["model_slots"]["omni"].model


@pytest.fixture
def fresh_app(tiny_env):
    """An app of its own, for tests that change its models' behaviour."""
    def build(**overrides):
        app = create_app(make_config(tiny_env, **overrides))
        for slot in app.extensions["model_slots"].values():
            assert slot.wait_loaded(120)
        return app
    return build


# -- the transcript pass ------------------------------------------------------------------------------------------
def test_the_transcript_uses_the_speech_recognition_prompt_over_the_same_features(loaded_app):
    model = _omni(loaded_app)
    audio = decode_audio(encode_audio("wav", seconds=2.0), 120)
    prepared = model.preprocess(FeedbackRequest(audio=audio))
    transcript = prepared["transcript_inputs"]
    text = model.processor.tokenizer.decode(transcript["input_ids"][0])
    assert OMNI_ASR_SYSTEM_PROMPT in text and OMNI_SPEECH_SYSTEM_PROMPT not in text
    feedback = prepared["feedback_inputs"]
    assert transcript["input_features"] is feedback["input_features"]
    audio_id = model.processor.audio_token_id
    assert int((transcript["input_ids"] == audio_id).sum()) == int((feedback["input_ids"] == audio_id).sum()) > 0


def test_audio_features_are_computed_once_per_request(loaded_app, monkeypatch):
    extractor = _omni(loaded_app).processor.feature_extractor
    calls = []
    real = type(extractor).__call__
    monkeypatch.setattr(type(extractor), "__call__", lambda self, *a, **k: (calls.append(1), real(self, *a, **k))[1])
    assert _feedback(loaded_app.test_client()).status_code == 200
    assert len(calls) == 1


def test_features_padded_to_the_clip_give_the_answer_full_padding_gives(loaded_app):
    """The processor pads to 300 s; the worker pads to the clip + 1 s: the model's answer is the same."""
    model = _omni(loaded_app)
    audio = decode_audio(encode_audio("wav", seconds=3.0), 120)
    short = model._audio_inputs(audio, "Comment.")
    text = model._conversation_text(OMNI_SPEECH_SYSTEM_PROMPT, "Comment.")
    full = model.processor(text=[text], audio=[audio.samples], sampling_rate=16000, return_tensors="pt", padding=True)
    assert full["input_features"].shape[-1] == 30000 and short["input_features"].shape[-1] <= 400
    valid = int(full["feature_attention_mask"].sum())
    assert int(short["feature_attention_mask"].sum()) == valid
    assert torch.equal(full["input_features"][..., :valid], short["input_features"][..., :valid])
    assert torch.equal(full["input_ids"], short["input_ids"])
    generate = {"max_new_tokens": 6, "do_sample": False}
    assert torch.equal(model.thinker.generate(**full, **generate), model.thinker.generate(**short, **generate))


def test_the_transcript_budget_follows_the_clip(loaded_app, monkeypatch):
    thinker = _omni(loaded_app).thinker
    budgets = []
    real = thinker.generate
    monkeypatch.setattr(thinker, "generate", lambda **k: (budgets.append(k["max_new_tokens"]), real(**k))[1])
    assert _feedback(loaded_app.test_client(), seconds=1.0).status_code == 200
    assert _feedback(loaded_app.test_client(), seconds=6.0).status_code == 200
    feedback_budget = loaded_app.config["WORKER"].omni_max_new_tokens
    assert budgets == [feedback_budget, transcript_token_budget(1.0), feedback_budget, transcript_token_budget(6.0)]
    assert transcript_token_budget(1.0) < transcript_token_budget(6.0) < transcript_token_budget(120.0) < 1024


def test_a_transcript_that_runs_out_of_time_is_null_and_the_feedback_is_kept(fresh_app, monkeypatch):
    app = fresh_app(ENABLED_MODELS="omni", REQUEST_TIMEOUT_S="3")
    thinker = _omni(app).thinker
    real = thinker.generate
    calls = []

    def slow_transcript(**kwargs):
        calls.append(1)
        if len(calls) == 2:  # the transcript pass: by the time it starts, the deadline has nearly passed
            time.sleep(3)
        return real(**kwargs)

    monkeypatch.setattr(thinker, "generate", slow_transcript)
    response = _feedback(app.test_client())
    assert response.status_code == 200, response.json
    assert response.json["transcript"] is None and isinstance(response.json["feedback"], str)


# -- preprocessing outside the model lock --------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["omni", "detector"])
def test_a_queued_request_is_prepared_while_another_runs(loaded_app, monkeypatch, key):
    slot = loaded_app.extensions["model_slots"][key]
    prepared = threading.Event()
    real = slot.model.preprocess
    monkeypatch.setattr(slot.model, "preprocess", lambda request: (real(request), prepared.set())[0])
    send = _feedback if key == "omni" else _detect
    result = {}
    with slot.exclusive(time.monotonic() + 30):  # another inference holds the model
        thread = threading.Thread(target=lambda: result.setdefault("response", send(loaded_app.test_client())))
        thread.start()
        assert prepared.wait(30), "the request was not prepared while the model was busy"
        assert "response" not in result  # ...and it waits for the model to run
    thread.join(60)
    assert result["response"].status_code == 200


# -- the talker's time budget ------------------------------------------------------------------------------------------
def test_the_talker_stops_at_the_request_deadline_not_a_fresh_budget(fresh_app, monkeypatch):
    """The talker's budget was computed before the thinker ran: a slow thinker plus a full talker budget overran the
    deadline. The talker now stops at the request's deadline itself."""
    app = fresh_app(ENABLED_MODELS="omni", REQUEST_TIMEOUT_S="3", OMNI_TALKER_MAX_NEW_TOKENS="60000",
                    OMNI_TRANSCRIPT="false")
    model = _omni(app).model
    real_thinker, real_talker_forward = model.thinker.generate, model.talker.forward
    seen = {}

    def slow_thinker(**kwargs):
        time.sleep(2)
        return real_thinker(**kwargs)

    @functools.wraps(real_talker_forward)  # generate() checks its arguments against forward's signature
    def slow_talker_step(*args, **kwargs):
        time.sleep(0.05)  # a real talker step on a slow device; never emitting its end code here
        return real_talker_forward(*args, **kwargs)

    real_talker_generate = model.talker.generate

    def spy_talker(**kwargs):
        seen["criteria"] = kwargs.get("stopping_criteria")
        return real_talker_generate(**kwargs)

    monkeypatch.setattr(model.thinker, "generate", slow_thinker)
    monkeypatch.setattr(model.talker, "forward", slow_talker_step)
    monkeypatch.setattr(model.talker, "generate", spy_talker)
    started = time.monotonic()
    response = _feedback(app.test_client(), return_audio="true")
    elapsed = time.monotonic() - started
    assert any(isinstance(c, StopAtDeadline) for c in seen["criteria"])
    assert response.status_code == 504, response.json
    assert elapsed < 3 + 1.0, f"the request took {elapsed:.1f} s with a 3 s limit"


# -- out of memory ------------------------------------------------------------------------------------------------
def _fail_next_forward(module, error):
    """A real allocation failure (or CUDA's error type) in the model's next forward pass, once."""
    state = {"armed": True}

    def hook(_module, _args):
        if state.pop("armed", False):
            if error == "cpu":
                torch.empty(2**46)  # the CPU allocator refuses 256 TiB
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    return module.register_forward_pre_hook(hook)


@pytest.mark.parametrize("error", ["cpu", "cuda"])
def test_out_of_memory_in_detection_is_503_and_the_worker_keeps_serving(loaded_app, error, monkeypatch):
    import model_worker.slot as slot_module

    released = []
    monkeypatch.setattr(slot_module, "release_memory", lambda: released.append(1))
    handle = _fail_next_forward(loaded_app.extensions["model_slots"]["detector"].model.model, error)
    try:
        client = loaded_app.test_client()
        response = _detect(client)
        assert response.status_code == 503, response.json
        assert response.json["error"]["code"] == "backend_unavailable"
        assert "ran out of memory" in response.json["error"]["message"] and int(response.headers["Retry-After"]) > 0
        assert released == [1]
        assert _detect(client).status_code == 200
    finally:
        handle.remove()


def test_out_of_memory_in_feedback_and_in_a_chat_stream(loaded_app):
    import json

    omni = _omni(loaded_app)
    client = loaded_app.test_client()
    handle = _fail_next_forward(omni.thinker, "cuda")
    try:
        response = _feedback(client)
        assert response.status_code == 503 and response.json["error"]["code"] == "backend_unavailable"
    finally:
        handle.remove()
    assert _feedback(client).status_code == 200
    handle = _fail_next_forward(omni.thinker, "cpu")
    try:
        stream = client.post("/omni/chat", json={"messages": [{"role": "user", "content": "hi"}], "stream": True})
        lines = [json.loads(line) for line in stream.data.decode().splitlines()]
    finally:
        handle.remove()
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "error"
    assert lines[-1]["error"]["code"] == "backend_unavailable" and "out of memory" in lines[-1]["error"]["message"]
    assert client.post("/omni/chat", json={"messages": [{"role": "user", "content": "hi"}]}).status_code == 200


# -- speech limits from the loaded checkpoint ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_dit_env(tiny_env, tmp_path_factory):
    """The tiny Omni checkpoint with a DiT of 96 positions (48 codes): fewer than the talker's budget implies."""
    from tests.worker.tiny_models import build_tiny_omni

    omni = build_tiny_omni(tmp_path_factory.mktemp("short-dit") / "omni", dit_max_position_embeddings=96)
    return {**tiny_env, "OMNI_MODEL": str(omni), "ENABLED_MODELS": "omni", "OMNI_TRANSCRIPT": "false"}


def test_spoken_feedback_longer_than_the_dit_positions_is_synthesised_whole(short_dit_env, caplog):
    """This was a 500: `Requested mel length (...) exceeds dit_config.max_position_embeddings (96)`. The answer is
    synthesised in windows sized from the loaded config; an answer cut by the talker's limit says so."""
    import soundfile as sf

    app = create_app(make_config(short_dit_env, OMNI_TALKER_MAX_NEW_TOKENS="120"))
    slot = app.extensions["model_slots"]["omni"]
    assert slot.wait_loaded(120) and slot.state == "ready", slot.info()
    token2wav = slot.model.model.token2wav
    assert token2wav.window_codes <= 96 // 2
    with caplog.at_level("WARNING", logger="model_worker.omni"):
        response = _feedback(app.test_client(), return_audio="true")
    assert response.status_code == 200, response.json
    audio = response.json["audio"]
    samples, rate = sf.read(io.BytesIO(base64.b64decode(audio["base64"])))
    codes = token2wav.last_code_count
    assert codes > 48 and rate == 24000 and samples.size == codes * 2 * 240
    # The random talker never emits its end code, so it ran to its limit: the answer says it was cut, and the log.
    assert codes == slot.model.talker_max_new_tokens == 120 and audio["truncated"] is True
    assert any("OMNI_TALKER_MAX_NEW_TOKENS" in r.getMessage() for r in caplog.records)
