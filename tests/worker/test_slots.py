"""Model states (loading/ready/failed/disabled), /readyz, the bounded queue (429), loading (503) and timeouts."""

import threading
import time

import pytest

from model_worker.app import create_app
from model_worker.errors import BackendTimeout, BackendUnavailable, ModelNotFound, Overloaded
from model_worker.loading import ModelLoader
from model_worker.slot import ModelSlot
from tests.worker.conftest import make_config
from tests.worker.media_samples import form_image, image_bytes


class FakeModel:
    """Stands in for a loaded model object in ModelSlot unit tests (the slot only calls its pipeline steps)."""

    def preprocess(self, request):
        return request

    def forward(self, prepared, deadline):
        return {}

    def postprocess(self, prepared, outputs):
        return {"timings": {}}


def start(slot: ModelSlot) -> ModelSlot:
    ModelLoader([slot], retries=0, retry_s=1).start()
    return slot


def test_slot_goes_loading_then_ready():
    release = threading.Event()
    slot = ModelSlot("m", "name", lambda: (release.wait(10), FakeModel())[1])
    start(slot)
    assert slot.info()["state"] == "loading"
    with pytest.raises(BackendUnavailable) as caught:
        slot.run(lambda model: model, deadline=time.monotonic() + 5)
    assert caught.value.retry_after
    release.set()
    assert slot.wait_loaded(10)
    assert slot.info() == {"state": "ready", "name": "name", "device": None, "dtype": None, "memory_bytes": None,
                           "bytes_by_dtype": None, "error": None}
    assert isinstance(slot.run(lambda model: model, deadline=time.monotonic() + 5), FakeModel)


def test_slot_failure_keeps_the_reason():
    def broken():
        raise OSError("no such model directory")

    slot = ModelSlot("m", "name", broken)
    start(slot)
    slot.wait_loaded(10)
    assert slot.info()["state"] == "failed" and "no such model directory" in slot.info()["error"]
    with pytest.raises(BackendUnavailable, match="failed to load"):
        slot.run(lambda model: model, deadline=time.monotonic() + 5)


def test_disabled_slot_is_404():
    slot = ModelSlot("m", "name", FakeModel, enabled=False)
    start(slot)
    assert slot.info()["state"] == "disabled"
    with pytest.raises(ModelNotFound):
        slot.run(lambda model: model, deadline=time.monotonic() + 5)


def test_queue_full_is_429_and_wait_past_deadline_is_504():
    slot = ModelSlot("m", "name", FakeModel, queue_size=1, retry_after_s=7)
    start(slot)
    slot.wait_loaded(10)
    running, release = threading.Event(), threading.Event()

    def busy(model):
        running.set()
        release.wait(10)

    first = threading.Thread(target=slot.run, args=(busy, time.monotonic() + 30))
    first.start()
    assert running.wait(5)
    waiter_result = {}

    def wait_in_queue():
        try:
            slot.run(lambda model: "done", time.monotonic() + 0.5)
        except BackendTimeout as exc:
            waiter_result["error"] = exc

    waiter = threading.Thread(target=wait_in_queue)
    waiter.start()
    time.sleep(0.1)
    with pytest.raises(Overloaded) as caught:
        slot.run(lambda model: "refused", time.monotonic() + 30)
    assert caught.value.retry_after == 7
    waiter.join(5)
    assert isinstance(waiter_result.get("error"), BackendTimeout)
    release.set()
    first.join(5)
    assert slot.run(lambda model: "free again", time.monotonic() + 5) == "free again"


def test_readyz_and_routes_while_loading_then_ready(tiny_env):
    release = threading.Event()
    from model_worker.app import default_loaders

    config = make_config(tiny_env, ENABLED_MODELS="detector")
    real_loader = default_loaders(config)["detector"]
    app = create_app(config, loaders={"detector": lambda: (release.wait(60), real_loader())[1]})
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["models"]["detector"]["state"] == "loading"
    assert response.json["models"]["omni"] == {
        "state": "disabled", "name": config.omni_model, "device": None, "dtype": None, "memory_bytes": None,
        "bytes_by_dtype": None, "error": None,
    }
    busy = client.post("/detect", json={"image_base64": "aGVsbG8="})
    assert busy.status_code == 503 and busy.json["error"]["code"] == "backend_unavailable"
    assert int(busy.headers["Retry-After"]) > 0
    disabled = client.post("/omni/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert disabled.status_code == 404 and disabled.json["error"]["code"] == "model_not_found"
    release.set()
    assert app.extensions["model_slots"]["detector"].wait_loaded(60)
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["models"]["detector"]["state"] == "ready"
    assert ready.json["models"]["detector"]["device"] == "cpu"
    assert ready.json["models"]["detector"]["dtype"] == "float32"


def test_a_model_that_fails_to_load_is_reported(tiny_env, tmp_path):
    app = create_app(make_config(tiny_env, ENABLED_MODELS="omni", OMNI_MODEL=str(tmp_path / "missing")))
    app.extensions["model_slots"]["omni"].wait_loaded(60)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    omni = response.json["models"]["omni"]
    assert omni["state"] == "failed" and omni["error"]
    chat = app.test_client().post("/omni/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 503 and "failed to load" in chat.json["error"]["message"]


def test_http_429_when_the_queue_is_full(tiny_env):
    app = create_app(make_config(tiny_env, ENABLED_MODELS="detector", QUEUE_SIZE="0"),
                     loaders={"detector": FakeModel})
    slot = app.extensions["model_slots"]["detector"]
    slot.wait_loaded(10)
    with slot.acquire(time.monotonic() + 30):  # an inference is running; no queue behind it
        response = app.test_client().post("/detect", json={
            "image_base64": __import__("base64").b64encode(image_bytes(form_image(200, 100))).decode(),
        })
    assert response.status_code == 429 and response.json["error"]["code"] == "overloaded"
    assert response.headers["Retry-After"]


def test_http_504_when_the_request_times_out_in_the_queue(tiny_env):
    app = create_app(make_config(tiny_env, ENABLED_MODELS="detector", REQUEST_TIMEOUT_S="1"),
                     loaders={"detector": FakeModel})
    slot = app.extensions["model_slots"]["detector"]
    slot.wait_loaded(10)
    with slot.acquire(time.monotonic() + 30):
        response = app.test_client().post("/detect", json={
            "image_base64": __import__("base64").b64encode(image_bytes(form_image(200, 100))).decode(),
        })
    assert response.status_code == 504 and response.json["error"]["code"] == "backend_timeout"


def test_unknown_routes_methods_and_big_bodies_use_the_error_shape(tiny_env):
    app = create_app(make_config(tiny_env, ENABLED_MODELS="", MAX_IMAGE_MB="0.01", MAX_AUDIO_MB="0.01",
                                 MAX_JSON_MB="0.01"))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200  # nothing enabled: nothing to wait for
    assert client.get("/nope").json["error"]["code"] == "not_found"
    wrong = client.get("/detect")
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"
    big = client.post("/detect", data=b"x" * 200_000, content_type="application/json")
    assert big.status_code == 413 and big.json["error"]["code"] == "payload_too_large"
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"] != "bad id!"


def test_an_error_after_the_stream_started_is_a_final_error_line(tiny_env):
    import json

    class StallingOmni(FakeModel):
        def chat_stream(self, request, deadline, cancel):
            yield {"type": "token", "text": "Hel"}
            raise BackendTimeout("the model stalled")

    app = create_app(make_config(tiny_env, ENABLED_MODELS="omni"), loaders={"omni": StallingOmni})
    slot = app.extensions["model_slots"]["omni"]
    slot.wait_loaded(10)
    response = app.test_client().post("/omni/chat", json={"messages": [{"role": "user", "content": "hi"}],
                                                          "stream": True})
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.data.decode().splitlines()]
    assert [line["type"] for line in lines] == ["start", "token", "error"]
    assert lines[-1]["error"]["code"] == "backend_timeout"
    assert lines[-1]["error"]["request_id"] == response.headers["X-Request-ID"]
    assert slot.run(lambda model: "released", time.monotonic() + 5) == "released"  # the slot was freed
