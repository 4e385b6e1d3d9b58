"""Loading the way production loads: one model at a time, dtypes and devices verified and measured, transient
failures retried, permanent ones reported."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from model_worker.app import create_app
from model_worker.inspection import PlacementMismatch, measure, verify
from model_worker.loading import ModelLoader, is_transient
from model_worker.slot import ModelSlot
from tests.worker.conftest import make_config
from tests.worker.media_samples import encode_audio

BF16_ROUNDS = 3


def _post_feedback(client, seconds=1.0):
    import io

    return client.post(
        "/omni/feedback", data={"audio": (io.BytesIO(encode_audio("wav", seconds=seconds)), "a.wav", "audio/wav")},
        content_type="multipart/form-data",
    )


def _wait_ready(app, timeout_s=180):
    for slot in app.extensions["model_slots"].values():
        assert slot.wait_loaded(timeout_s), f"{slot.key} did not finish loading"


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(BF16_ROUNDS))
def test_bfloat16_loads_of_both_models_leave_every_parameter_in_bfloat16(tiny_env, round_):
    """Both models start loading as create_app starts them. Loaded at the same time, they raced on torch's default
    dtype: it stayed bf16 after the loads and some Omni parameters stayed float32 (10 of 10 runs)."""
    app = create_app(make_config(tiny_env, DTYPE="bfloat16"))
    _wait_ready(app)
    slots = app.extensions["model_slots"]
    assert {key: slot.state for key, slot in slots.items()} == {"omni": "ready", "detector": "ready"}, \
        {key: slot.info()["error"] for key, slot in slots.items()}
    assert torch.get_default_dtype() == torch.float32
    omni = slots["omni"].model.model
    wrong = {name: p.dtype for name, p in omni.named_parameters()
             if p.dtype != (torch.float32 if name.startswith("token2wav.") else torch.bfloat16)}
    assert not wrong
    detector = slots["detector"].model.model
    assert {p.dtype for p in detector.parameters()} == {torch.bfloat16}
    readyz = app.test_client().get("/readyz").json["models"]
    assert readyz["detector"]["dtype"] == "bfloat16"
    assert set(readyz["omni"]["bytes_by_dtype"]) == {"bfloat16", "float32"}  # Token2Wav runs in float32
    token2wav = sum(p.numel() * 4 for p in omni.token2wav.parameters())
    assert readyz["omni"]["bytes_by_dtype"]["float32"] == token2wav
    response = _post_feedback(app.test_client())
    assert response.status_code == 200, response.json


def test_models_load_one_after_the_other():
    active, peak, lock = [0], [0], threading.Lock()

    def loader():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return object()

    slots = [ModelSlot("a", "a", loader), ModelSlot("b", "b", loader)]
    ModelLoader(slots, retries=0, retry_s=1).start()
    assert all(slot.wait_loaded(10) for slot in slots)
    assert [slot.state for slot in slots] == ["ready", "ready"]
    assert peak[0] == 1


def test_readyz_reports_what_the_parameters_say(loaded_app):
    models = loaded_app.test_client().get("/readyz").json["models"]
    for key in ("omni", "detector"):
        model = loaded_app.extensions["model_slots"][key].model.model
        held = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
        assert models[key]["device"] == "cpu" and models[key]["dtype"] == "float32"
        assert models[key]["memory_bytes"] == held
        assert models[key]["bytes_by_dtype"]["float32"] == sum(p.numel() * 4 for p in model.parameters())


def test_omni_keeps_no_vision_tower(loaded_app, tiny_checkpoints):
    from transformers import Qwen2_5OmniForConditionalGeneration

    omni = loaded_app.extensions["model_slots"]["omni"].model.model
    assert omni.thinker.model.visual is None
    full = Qwen2_5OmniForConditionalGeneration.from_pretrained(tiny_checkpoints["omni"])
    vision = sum(p.numel() for p in full.thinker.model.visual.parameters())
    assert sum(p.numel() for p in omni.parameters()) == sum(p.numel() for p in full.parameters()) - vision


def test_verify_names_the_mismatch():
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)).to(torch.bfloat16)
    module[1].float()
    verify(module[:1], "cpu", lambda name, p: ("bfloat16",), what="m")
    with pytest.raises(PlacementMismatch, match=r"2 parameters in float32 \(expected bfloat16\)") as caught:
        verify(module, "cpu", lambda name, p: ("bfloat16",), what="the test model")
    assert "1.weight" in str(caught.value) and "the test model" in str(caught.value)
    footprint = measure(module)
    assert footprint.bytes_by_dtype == {"float32": 20 * 4, "bfloat16": 20 * 2} and footprint.dtype == "float32"


def test_a_load_left_in_the_wrong_dtype_fails_with_the_reason(tiny_env, monkeypatch):
    """A model whose parameters do not all come out in the requested dtype is not served."""
    from transformers import Qwen2_5OmniForConditionalGeneration

    real = Qwen2_5OmniForConditionalGeneration.from_pretrained.__func__

    def half_cast(cls, *args, **kwargs):
        model = real(cls, *args, **kwargs)
        model.thinker.model.language_model.layers[0].float()  # what the dtype race did to some layers
        return model

    monkeypatch.setattr(Qwen2_5OmniForConditionalGeneration, "from_pretrained", classmethod(half_cast))
    app = create_app(make_config(tiny_env, ENABLED_MODELS="omni", DTYPE="bfloat16"))
    _wait_ready(app)
    info = app.extensions["model_slots"]["omni"].info()
    assert info["state"] == "failed"
    assert "parameters in float32 (expected bfloat16)" in info["error"]
    assert "thinker.model.language_model.layers.0" in info["error"]


class _Flaky:
    """A loader that fails `failures` times with `error`, then returns a model."""

    def __init__(self, failures, error):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error() if callable(self.error) else self.error
        return object()


def _real_cpu_allocation_failure():
    torch.empty(2**46)  # 256 TiB of float32: the CPU allocator refuses (a RuntimeError on torch 2.13)


def test_a_load_that_runs_out_of_memory_is_retried_until_it_loads():
    flaky = _Flaky(2, _real_cpu_allocation_failure)
    slot = ModelSlot("omni", "m", flaky)
    states = []
    loader = ModelLoader([slot], retries=5, retry_s=0.2)
    loader.start()
    deadline = time.monotonic() + 10
    while not slot.wait_loaded(0.05) and time.monotonic() < deadline:
        states.append((slot.state, slot.info()["error"]))
    assert slot.state == "ready" and flaky.calls == 3 and slot.info()["error"] is None
    assert any(state == "loading" and error and "retrying in" in error for state, error in states)


def test_a_transient_failure_past_the_retries_is_failed_and_says_so():
    slot = ModelSlot("detector", "m", _Flaky(10, lambda: torch.OutOfMemoryError("CUDA out of memory.")))
    ModelLoader([slot], retries=2, retry_s=0.05).start()
    assert slot.wait_loaded(10)
    assert slot.state == "failed" and slot.attempts == 3
    assert "OutOfMemoryError" in slot.info()["error"] and "after 3 attempts" in slot.info()["error"]


def test_a_permanent_failure_is_not_retried_and_the_other_model_still_loads():
    broken = _Flaky(10, lambda: OSError("Qwen/nope is not a local folder and is not a valid model identifier"))
    slots = [ModelSlot("omni", "m", broken), ModelSlot("detector", "d", _Flaky(0, None))]
    ModelLoader(slots, retries=5, retry_s=0.05).start()
    assert all(slot.wait_loaded(10) for slot in slots)
    assert broken.calls == 1 and slots[0].state == "failed"
    assert "not a valid model identifier" in slots[0].info()["error"]
    assert slots[1].state == "ready"


def test_transient_or_not():
    import httpx

    assert is_transient(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_transient(ConnectionResetError("reset by peer"))
    assert is_transient(httpx.ReadTimeout("timed out"))
    assert not is_transient(ValueError("OMNI_SPEAKER='Bob' is not in the checkpoint's speakers"))
    assert not is_transient(FileNotFoundError("config.json"))


def test_a_model_that_does_not_fit_the_free_gpu_memory_is_failed_with_the_numbers(tiny_env):
    """On CUDA each load is checked against the memory plan first; here the device's free memory is given."""
    from model_worker.loading import DeviceMemoryCheck
    from model_worker.plan import GIB, NotEnoughMemory, plan_models
    from model_worker.runtime import Placement

    config = make_config(tiny_env, GPU_RESERVE_GIB="1")
    cuda = Placement(device="cuda:0", dtype=torch.bfloat16)
    omni, detector = plan_models(config, torch.bfloat16)
    free = {"bytes": omni.total_bytes + detector.total_bytes + GIB + 1024}
    check = DeviceMemoryCheck(config, free_bytes=lambda device: free["bytes"])
    assert check.check("omni", Placement(device="cpu", dtype=torch.float32)) is None  # nothing to check on CPU
    assert check.check("omni", cuda).total_bytes == omni.total_bytes
    check.loaded(omni, object())
    free["bytes"] -= omni.parts["weights"]  # what the loaded weights took; its KV cache etc. are still to come
    assert check.check("detector", cuda).total_bytes == detector.total_bytes
    free["bytes"] = detector.total_bytes + GIB - 1  # now one byte short once the reserve and Omni's need count
    with pytest.raises(NotEnoughMemory, match="Not enough GPU memory: detector needs") as caught:
        check.check("detector", cuda)
    assert "GPU_RESERVE_GIB=1" in str(caught.value) and not is_transient(caught.value)

    slot = ModelSlot("detector", "d", lambda: check.check("detector", cuda))
    ModelLoader([slot], retries=3, retry_s=0.05).start()
    assert slot.wait_loaded(10) and slot.state == "failed" and slot.attempts == 1
    assert "Not enough GPU memory" in slot.info()["error"]
