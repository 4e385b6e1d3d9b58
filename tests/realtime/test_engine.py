"""The real-time voice service's model code in-process, on CPU: the configuration, both checkpoint layouts (with
the real `moshi` loaders), J-Moshi's real size on the meta device, bfloat16 as on the GPU, and conversation slots
that share weights but not state."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from realtime_voice.checkpoint import CheckpointError, checkpoint_info
from realtime_voice.config import ConfigError, load_config
from realtime_voice.engine import READY, Engine

from .moshi_client import tone
from .stack import TINY_DIR, tiny_env
from .tiny_moshi import build_tiny_moshi, to_moshi_0_2_2_layout

pytestmark = pytest.mark.timeout(180)
FRAME = 1920


@pytest.fixture(scope="module")
def tiny_dir():
    return build_tiny_moshi(TINY_DIR)


def engine_for(directory, **env) -> Engine:
    engine = Engine(load_config({**tiny_env(directory), **env}))
    engine.start()
    engine.wait_loaded(120)
    assert engine.status.state == READY, engine.status
    return engine


def frames(seconds: float, hz: float = 220.0) -> list[np.ndarray]:
    audio = tone(seconds, hz)
    return [audio[i: i + FRAME] for i in range(0, audio.size - FRAME + 1, FRAME)]


def run(engine: Engine, slot, audio: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    slot.reset()
    pcm, text = [], []
    for frame in audio:
        for reply in engine.executor.submit(slot.step, frame).result():
            pcm.append(reply.pcm)
            text += [reply.text] if reply.text else []
    return np.concatenate(pcm), text


def test_defaults_and_bad_values():
    config = load_config({})
    assert (config.port, config.moshi_repo, config.device, config.dtype, config.max_conversations) == \
        (8998, "nu-dialogue/j-moshi-ext", "cuda", "bfloat16", 1)
    for env, message in [({"DEVICE": "gpu"}, "DEVICE must be cuda"), ({"DTYPE": "int8"}, "DTYPE must be one of"),
                         ({"MAX_CONVERSATIONS": "0"}, "MAX_CONVERSATIONS must be from 1"),
                         ({"IDLE_TIMEOUT_S": "soon"}, "IDLE_TIMEOUT_S must be a number"),
                         ({"MOSHI_MODEL_DIR": "/nonexistent"}, "MOSHI_MODEL_DIR is not a directory"),
                         ({"WARMUP": "maybe"}, "WARMUP must be 1 or 0")]:
        with pytest.raises(ConfigError, match=message):
            load_config(env)
    assert load_config({"DEVICE": "cuda:1", "MAX_MESSAGE_KB": "8"}).max_message_bytes == 8192


def test_jmoshis_layout_is_the_moshi_7b_architecture_on_the_meta_device(tmp_path):
    """J-Moshi's repositories have no config.json: the three files, read as Moshi 7B. At its real size (built on the
    meta device: no memory) the LM has 7.69 B parameters: 15.4 GB in bf16 before its KV cache, so the service
    needs its own 24 GB card."""
    for name in ("model.safetensors", "tokenizer_spm_32k_3.model", "tokenizer-e351c8d8-checkpoint125.safetensors"):
        (tmp_path / name).write_bytes(b"")
    info = checkpoint_info(load_config({"MOSHI_MODEL_DIR": str(tmp_path)}), tmp_path)
    assert info.lm_config is None and info.model_type == "moshi"
    assert info.moshi_weights.name == "model.safetensors" and info.tokenizer.name == "tokenizer_spm_32k_3.model"
    lm = info.get_moshi(device="meta", dtype=torch.bfloat16, load_weight=False)
    params = sum(p.numel() for p in lm.parameters())
    assert 7.6e9 < params < 7.8e9
    weights_gb = sum(p.numel() * p.element_size() for p in lm.parameters()) / 1e9
    assert 15.0 < weights_gb < 15.8
    # The KV cache of one conversation: 32 layers x (K, V) x context 3000 x 4096 x 2 bytes.
    assert lm.transformer.layers[0].self_attn.context == 3000


def test_a_missing_file_is_named(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"has no Mimi weights file tokenizer-e351c8d8-checkpoint125\."):
        checkpoint_info(load_config({"MOSHI_MODEL_DIR": str(tmp_path)}), tmp_path)


def test_the_tiny_checkpoint_is_saved_as_kyutais_repositories_are(tiny_dir):
    config = json.loads((tiny_dir / "config.json").read_text())
    assert {config["moshi_name"], config["mimi_name"], config["tokenizer_name"], config["mimi_config_name"]} <= \
        {p.name for p in tiny_dir.iterdir()}
    info = checkpoint_info(load_config(tiny_env(tiny_dir)), tiny_dir)
    assert info.lm_config["dim"] == 64 and info.mimi_config["seanet"]["dimension"] == 32


def test_a_checkpoint_in_moshi_0_2_2s_layout_loads_with_the_same_weights(tiny_dir, tmp_path):
    """J-Moshi's weights were saved by moshi <= 0.2.2 (stacked attention projections); moshi 0.2.13, pinned here,
    maps them on load (StreamingMultiheadAttention._load_hook): the same tensors either way."""
    from safetensors.torch import load_file, save_file

    legacy = tmp_path / "legacy"
    shutil.copytree(tiny_dir, legacy)
    state = load_file(tiny_dir / "model.safetensors")
    old = to_moshi_0_2_2_layout(state)
    assert any(k.endswith("self_attn.in_proj_weight") for k in old) and not any(".in_projs." in k for k in old)
    save_file(old, legacy / "model.safetensors")
    config = load_config(tiny_env(legacy))
    lm_new = checkpoint_info(config, tiny_dir).get_moshi(device="cpu", dtype=torch.float32)
    lm_old = checkpoint_info(config, legacy).get_moshi(device="cpu", dtype=torch.float32)
    new_state, old_state = lm_new.state_dict(), lm_old.state_dict()
    assert new_state.keys() == old_state.keys()
    assert all(torch.equal(new_state[k], old_state[k]) for k in new_state)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_frame_in_is_a_frame_out_in_both_dtypes(tiny_dir, dtype):
    engine = engine_for(tiny_dir, DTYPE=dtype)
    try:
        slot = engine._slots[0]
        assert next(slot.lm_gen.lm_model.parameters()).dtype == getattr(torch, dtype)
        pcm, text = run(engine, slot, frames(2.0))
        assert pcm.dtype == np.float32 and pcm.size >= 23 * FRAME and np.isfinite(pcm).all()
        assert all(isinstance(piece, str) for piece in text)
        assert engine.describe()["status"] == "ready" and engine.describe()["frame_ms"] == 80
    finally:
        engine.close()


def test_slots_share_the_weights_and_keep_their_own_state(tiny_dir):
    # Greedy decoding: what each slot produces depends on its own input and state only, not on the shared sampler.
    engine = engine_for(tiny_dir, MAX_CONVERSATIONS="2", TEMPERATURE="0", TEMPERATURE_TEXT="0")
    try:
        first, second = engine._slots
        for a, b in zip(first.lm_gen.lm_model.parameters(), second.lm_gen.lm_model.parameters(), strict=True):
            assert a.data_ptr() == b.data_ptr()
        assert first.lm_gen.lm_model is not second.lm_gen.lm_model
        alone_a = run(engine, first, frames(1.5))
        alone_b = run(engine, second, frames(1.5, hz=330))
        # Interleaved frame by frame, each slot gives what it gave alone: no state leaks between conversations.
        first.reset()
        second.reset()
        out_a, out_b = [], []
        for fa, fb in zip(frames(1.5), frames(1.5, hz=330), strict=True):
            out_a += engine.executor.submit(first.step, fa).result()
            out_b += engine.executor.submit(second.step, fb).result()
        assert np.array_equal(np.concatenate([r.pcm for r in out_a]), alone_a[0])
        assert np.array_equal(np.concatenate([r.pcm for r in out_b]), alone_b[0])
        assert engine.acquire() is not None and engine.acquire() is not None and engine.acquire() is None
        assert engine.status.refused_total == 1
    finally:
        engine.close()
