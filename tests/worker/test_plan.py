"""The GPU memory plan (model_worker/plan.py, plan_sizes.py, plan_cli.py) on the real-size configurations of both
models (real_configs.py), built on the meta device: parameter counts against the public figures, weight bytes
against the meta models' own tensors, the NF4 formula against a real bitsandbytes quantisation, token and KV counts,
fit checks and their suggestions on 16/24/48/80 GiB cards, and the CLI.

Expected figures are computed from the defaults of WorkerConfig, not copied, so the tests follow the lead's
defaults; what must hold whatever they are is asserted (a listed fix fits when applied, an unlisted one does not).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import Qwen2_5OmniForConditionalGeneration, Qwen3VLForConditionalGeneration

from model_worker.config import WorkerConfig
from model_worker.plan import GIB, NotEnoughMemory, check_fits, check_fits_together, gib, plan_model, plan_models
from model_worker.plan_cli import main as cli_main
from model_worker.plan_sizes import (
    AUDIO_FRAMES_PER_SECOND,
    MAX_AUDIO_FRAMES,
    PROMPT_TEXT_TOKENS,
    LoraShape,
    audio_tokens,
    image_tokens,
    nf4_bytes,
)
from tests.worker.real_configs import (
    PUBLIC_PARAMETERS,
    omni_3b_config,
    pdfme_lora_config,
    qwen3_vl_8b_config,
    save_real_configs,
)

pytestmark = pytest.mark.slow

MODEL_WORKER = Path(__file__).resolve().parents[2] / "model-worker"
RESERVE = {"GPU_RESERVE_GIB": "4"}  # Ollama's share of the card
CUDA_CONTEXT_GIB = 0.5
BF16, FP32 = 2, 4


@pytest.fixture(scope="module")
def real():
    return {"omni": omni_3b_config(), "detector": qwen3_vl_8b_config(), "lora": pdfme_lora_config()}


@pytest.fixture(scope="module")
def meta_omni(real):
    with torch.device("meta"):
        return Qwen2_5OmniForConditionalGeneration._from_config(real["omni"])


@pytest.fixture(scope="module")
def meta_vl(real):
    with torch.device("meta"):
        return Qwen3VLForConditionalGeneration._from_config(real["detector"])


def settings(**env: str) -> WorkerConfig:
    return WorkerConfig.from_env({**RESERVE, **env})


def plans_for(real, config: WorkerConfig, *, on_cuda: bool = True) -> dict:
    return {p.key: p for p in plan_models(config, torch.bfloat16, on_cuda=on_cuda, model_configs=real)}


def card_free(card_gib: float) -> int:
    return int((card_gib - CUDA_CONTEXT_GIB) * GIB)


# -- parameters ----------------------------------------------------------------------------------------------------
def test_real_configs_count_the_public_parameter_figures(meta_omni, meta_vl):
    """Within 1 % of the published totals (given to three digits), the vision tower within 5 % of its "~0.67 B"."""
    omni = sum(p.numel() for p in meta_omni.parameters())
    vision = sum(p.numel() for p in meta_omni.thinker.model.visual.parameters())
    detector = sum(p.numel() for p in meta_vl.parameters())
    assert omni == pytest.approx(PUBLIC_PARAMETERS["omni"], rel=0.01)
    assert vision == pytest.approx(PUBLIC_PARAMETERS["omni_vision"], rel=0.05)
    assert detector == pytest.approx(PUBLIC_PARAMETERS["detector"], rel=0.01)


def test_omni_weights_are_the_kept_parameters_in_their_dtypes(real, meta_omni):
    """Speech on: all but thinker.model.visual, Token2Wav in float32, the rest in bf16. Speech off: the thinker
    alone, still without its vision tower."""
    kept = {n: p.numel() for n, p in meta_omni.named_parameters() if not n.startswith("thinker.model.visual.")}
    vision = sum(p.numel() for p in meta_omni.thinker.model.visual.parameters())
    fp32 = sum(n for name, n in kept.items() if name.startswith("token2wav."))
    plan = plans_for(real, settings(ENABLED_MODELS="omni"))["omni"]
    assert plan.parameters == sum(kept.values()) == sum(p.numel() for p in meta_omni.parameters()) - vision
    assert plan.weights["float32"] == fp32 * FP32
    assert plan.weights["bfloat16"] == (sum(kept.values()) - fp32) * BF16

    thinker = {name: n for name, n in kept.items() if name.startswith("thinker.")}
    silent = plans_for(real, settings(ENABLED_MODELS="omni", OMNI_SPEECH="false"))["omni"]
    assert silent.parameters == sum(thinker.values())
    assert set(silent.weights) == {"bfloat16", "buffers"}
    assert silent.weights["bfloat16"] == sum(thinker.values()) * BF16
    assert list(silent.parts) == ["weights", "kv_cache", "activations"]
    assert list(plan.parts) == ["weights", "kv_cache", "activations", "thinker_states", "speech"]


def _quantisable(meta_vl) -> dict[str, int]:
    """What transformers hands to bitsandbytes under the worker's skip list: exactly nn.Linear, outside the vision
    tower and the output head."""
    return {
        name: module.weight.numel() for name, module in meta_vl.named_modules()
        if type(module) is torch.nn.Linear and not name.startswith("model.visual") and name != "lm_head"
    }


def test_detector_weights_in_4bit_and_in_bf16(real, meta_vl):
    text = real["detector"].text_config
    four_bit = _quantisable(meta_vl)
    assert len(four_bit) == 7 * text.num_hidden_layers  # q, k, v, o, gate, up, down of every text layer
    total = sum(p.numel() for p in meta_vl.parameters())
    lora = 16 * text.num_hidden_layers * sum(
        fan_in + fan_out for fan_in, fan_out in [(4096, 4096), (4096, 1024), (4096, 1024), (4096, 4096)]
    )
    plan = plans_for(real, settings(ENABLED_MODELS="detector"))["detector"]
    assert plan.weights["nf4"] == sum(nf4_bytes(n) for n in four_bit.values())
    assert plan.weights["bfloat16"] == (total - sum(four_bit.values())) * BF16  # embeddings, norms, vision, lm_head
    assert plan.weights["lora float32"] == lora * FP32
    assert plan.parameters == total + lora

    bf16_by_choice = settings(ENABLED_MODELS="detector", USE_4BIT="false"), True
    four_bit_on_cpu = settings(ENABLED_MODELS="detector"), False  # bitsandbytes is for CUDA in the worker
    for config, on_cuda in (bf16_by_choice, four_bit_on_cpu):
        plan = plans_for(real, config, on_cuda=on_cuda)["detector"]
        assert set(plan.weights) == {"bfloat16", "buffers"}
        assert plan.weights["bfloat16"] == total * BF16
        assert plan.parameters == total  # the LoRA is merged into the weights


def _measured_storage(model) -> dict[str, int]:
    """Device bytes as loaded: 4-bit weights with every tensor of their quantisation state, the rest by dtype."""
    import bitsandbytes as bnb

    found: dict[str, int] = {}
    four_bit = set()
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            four_bit.add(id(module.weight))
            state = module.weight.quant_state
            tensors = [module.weight, state.absmax, state.code, state.offset, state.state2.absmax, state.state2.code]
            found["nf4"] = found.get("nf4", 0) + sum(t.numel() * t.element_size() for t in tensors)
    for name, param in model.named_parameters():
        if id(param) in four_bit:
            continue
        kind = "lora float32" if "lora_" in name else str(param.dtype).removeprefix("torch.")
        found[kind] = found.get(kind, 0) + param.numel() * param.element_size()
    return found


def test_nf4_bytes_match_a_real_bitsandbytes_quantisation(tmp_path):
    """A tiny Qwen3-VL quantised on CPU exactly as detector.py does it (NF4, double quantisation, the worker's skip
    list) with a LoRA attached by PEFT: the plan's bytes per storage equal what bitsandbytes and PEFT hold."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoConfig, BitsAndBytesConfig

    from model_worker.detector import FOUR_BIT_SKIP_MODULES
    from tests.worker.tiny_models import build_tiny_vl

    base_dir = build_tiny_vl(tmp_path / "vl")
    lora = LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    get_peft_model(Qwen3VLForConditionalGeneration.from_pretrained(base_dir), lora).save_pretrained(tmp_path / "lora")
    quantisation = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True, llm_int8_skip_modules=FOUR_BIT_SKIP_MODULES,
    )
    model = Qwen3VLForConditionalGeneration.from_pretrained(
        base_dir, dtype=torch.bfloat16, quantization_config=quantisation
    )
    model = PeftModel.from_pretrained(model, tmp_path / "lora")
    config = WorkerConfig(use_4bit=True, vl_lora_adapter=str(tmp_path / "lora"), enabled_models=("detector",))
    plan = plan_model("detector", config, torch.bfloat16, True, AutoConfig.from_pretrained(base_dir),
                      LoraShape(16, ("q_proj", "k_proj", "v_proj", "o_proj")))
    planned = {kind: size for kind, size in plan.weights.items() if kind != "buffers"}
    assert planned == _measured_storage(model)


# -- tokens and KV cache -------------------------------------------------------------------------------------------
def test_audio_tokens_follow_the_omni_processor():
    from transformers import WhisperFeatureExtractor
    from transformers.models.qwen2_5_omni.processing_qwen2_5_omni import _get_feat_extract_output_lengths

    # The Omni checkpoint's feature extractor: 16 kHz, hop 160, 300 s chunks (see tiny_models.build_tiny_omni).
    extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=300)
    assert extractor.sampling_rate // extractor.hop_length == AUDIO_FRAMES_PER_SECOND
    assert extractor.nb_max_frames == MAX_AUDIO_FRAMES
    for seconds in (1, 2.5, 10, 59.9, 120, 300, 400):
        frames = min(math.ceil(seconds * 16000 / 160), extractor.nb_max_frames)
        assert audio_tokens(seconds) == int(_get_feat_extract_output_lengths(torch.tensor(frames)))
    assert audio_tokens(120) == 120 * 25
    assert audio_tokens(400) == audio_tokens(300)  # the feature extractor keeps 300 s


def test_image_tokens_follow_smart_resize(real):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    vision = real["detector"].vision_config  # patch 16, merge 2: 32 px per merged token side
    for side in (256, 640, 1000, 1024, 1040, 2048):
        height, width = smart_resize(side, side, factor=32, min_pixels=1, max_pixels=1 << 40)
        assert image_tokens(vision, side) == (height // 16) * (width // 16) // 4
    assert image_tokens(vision, 1024) == 1024


def test_kv_cache_bytes_for_the_configured_limits(real):
    config = settings()
    omni = real["omni"]
    prompt = audio_tokens(config.max_audio_seconds) + PROMPT_TEXT_TOKENS
    thinker = 2 * 36 * 2 * 128 * (prompt + config.omni_max_new_tokens) * BF16
    talker = 2 * 24 * 2 * 64 * (prompt + 2 + config.omni_talker_max_new_tokens) * BF16
    assert omni.talker_config.num_hidden_layers == 24 and omni.talker_config.head_dim == 64
    image = image_tokens(real["detector"].vision_config, config.detector_max_side)
    detector = 2 * 36 * 8 * 128 * (image + PROMPT_TEXT_TOKENS + config.detector_max_new_tokens) * BF16
    plans = plans_for(real, config)
    assert plans["omni"].parts["kv_cache"] == thinker + talker
    assert plans["detector"].parts["kv_cache"] == detector
    assert plans_for(real, settings(OMNI_SPEECH="false"))["omni"].parts["kv_cache"] == thinker


# -- fitting -------------------------------------------------------------------------------------------------------
CARDS = (16, 24, 48, 80)
CONFIGURATIONS = {
    "defaults": {},  # bf16 Omni with speech + NF4 detector
    "omni without speech": {"OMNI_SPEECH": "false"},
    "detector in bf16": {"USE_4BIT": "false"},
    "omni only": {"ENABLED_MODELS": "omni"},
    "detector only": {"ENABLED_MODELS": "detector"},
}


def _fits(real, env: dict, card: int) -> tuple[bool, list]:
    config = settings(**env)
    plans = list(plans_for(real, config).values())
    try:
        check_fits_together(plans, card_free(card), int(config.gpu_reserve_gib * GIB), config)
    except NotEnoughMemory as exc:
        return False, exc.suggestions
    return True, []


def _applied(env: dict, setting: str) -> dict:
    variable, value = setting.split("=", 1)
    return {**env, variable: value}


@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_fit_checks_say_what_is_short_and_what_would_fit(real, name, card):
    """The check passes exactly when the plan fits; otherwise its message has the figures, and every setting it
    offers (naming only those that fit, when any does) is one a person can set (read back through
    WorkerConfig.from_env), fits when it says so (a limit at the largest value that fits: one more does not), and
    does not fit alone when it says so."""
    env = CONFIGURATIONS[name]
    config = settings(**env)
    plans = list(plans_for(real, config).values())
    need, available = sum(p.total_bytes for p in plans), card_free(card) - 4 * GIB
    fits, _ = _fits(real, env, card)
    assert fits == (need <= available)
    if fits:
        return
    with pytest.raises(NotEnoughMemory) as caught:
        check_fits_together(plans, card_free(card), 4 * GIB, config)
    message, suggestions = str(caught.value), caught.value.suggestions
    assert f"{gib(need)} GiB" in message
    free = gib(card_free(card))
    assert f"{free} GiB free on the device minus GPU_RESERVE_GIB=4 leaves {gib(available)} GiB" in message
    assert f"({gib(need - available)} GiB short)" in message
    settings_fit = any(s.fits for s in suggestions if not s.setting.startswith("ENABLED_MODELS="))
    for suggestion in suggestions:  # when something fits, the message names only what fits
        assert (suggestion.setting in message) == (suggestion.fits or not settings_fit), suggestion
    for suggestion in suggestions:
        changed = _applied(env, suggestion.setting)
        assert _fits(real, changed, card)[0] == suggestion.fits, suggestion
        variable, value = suggestion.setting.split("=", 1)
        if suggestion.fits and "largest value" in suggestion.note:
            assert not _fits(real, {**env, variable: str(int(value) + 1)}, card)[0], suggestion


def test_on_the_cards_of_the_readme(real):
    """Robust outcomes whatever the defaults' details: everything fits on 48 and 80 GiB; on 16 GiB the pair does not
    and no single setting of theirs is enough, but the detector alone fits (so leaving Omni out is offered)."""
    for card in (48, 80):
        assert all(_fits(real, env, card)[0] for env in CONFIGURATIONS.values())
    fits, suggestions = _fits(real, {}, 16)
    assert not fits
    assert not any(s.fits for s in suggestions if not s.setting.startswith(("ENABLED_MODELS=", "GPU_RESERVE_GIB=")))
    assert "ENABLED_MODELS=detector" in [s.setting for s in suggestions if s.fits]


def test_check_fits_one_model_offers_a_smaller_reserve(real):
    """Omni alone where the device has room for it but not after the reserve: a smaller GPU_RESERVE_GIB fits."""
    config = settings(ENABLED_MODELS="omni")
    plan = plans_for(real, config)["omni"]
    free = plan.total_bytes + GIB  # 1 GiB more than it needs, 4 GiB reserved
    check_fits(plan, free, GIB, config)
    with pytest.raises(NotEnoughMemory) as caught:
        check_fits(plan, free, 4 * GIB, config)
    offered = {s.setting: s for s in caught.value.suggestions}
    assert "GPU_RESERVE_GIB=1" in offered and offered["GPU_RESERVE_GIB=1"].fits
    assert "OMNI_SPEECH=false" in offered  # the switch is always measured, and here it saves more than enough
    assert offered["OMNI_SPEECH=false"].fits
    assert "ENABLED_MODELS=" in offered  # leaving the only model out always "fits"
    assert f"omni needs {gib(plan.total_bytes)} GiB ({plan.describe_parts()})" in str(caught.value)


# -- the command line ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_configs(tmp_path_factory):
    return save_real_configs(tmp_path_factory.mktemp("real-configs"))


def _cli_env(saved: dict) -> dict[str, str]:
    return {
        "OMNI_MODEL": str(saved["omni"]), "VL_BASE_MODEL": str(saved["vl"]), "VL_LORA_ADAPTER": str(saved["lora"]),
        "ENABLED_MODELS": "omni,detector", "HF_HUB_OFFLINE": "1", "GPU_RESERVE_GIB": "4",
    }


def test_cli_prints_the_plan_and_whether_it_fits(real, saved_configs):
    """`python -m model_worker.plan` from model-worker/, reading the saved real configs offline, as a person runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "model_worker.plan", "--gpu-gib", "16", "80"],
        cwd=MODEL_WORKER, env={**os.environ, **_cli_env(saved_configs)}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1, result.stderr  # does not fit on 16 GiB
    out = result.stdout
    plans = plans_for(real, settings())
    for plan in plans.values():
        assert f"{gib(plan.total_bytes)} GiB: {plan.describe_parts()}" in out
    assert f"total {gib(sum(p.total_bytes for p in plans.values()))} GiB" in out
    sixteen, eighty = out.split("16 GiB card:")[1].split("80 GiB card:")
    assert "DOES NOT FIT" in sixteen and "ENABLED_MODELS=detector" in sixteen
    assert "FITS" in eighty and "DOES NOT FIT" not in eighty


def test_cli_exit_codes(saved_configs, monkeypatch, capsys):
    for variable, value in _cli_env(saved_configs).items():
        monkeypatch.setenv(variable, value)
    assert cli_main(["--gpu-gib", "80", "--reserve-gib", "4"]) == 0
    assert "FITS" in capsys.readouterr().out
    monkeypatch.setenv("USE_4BIT", "maybe")
    assert cli_main(["--gpu-gib", "80"]) == 2
    assert "USE_4BIT" in capsys.readouterr().err


def test_the_census_leaves_the_default_dtype_alone(monkeypatch):
    """A checkpoint's config names its dtype; building from it must not switch torch's process-wide default dtype,
    which a load in another thread relies on (NOTES.md: concurrent from_pretrained races on it)."""
    from transformers import Qwen3VLConfig

    from model_worker.plan_sizes import census

    config = Qwen3VLConfig(
        text_config={"vocab_size": 256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16},
        vision_config={"depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
                       "num_position_embeddings": 256, "deepstack_visual_indexes": [0]},
    )
    config.dtype = "bfloat16"
    switched = []
    monkeypatch.setattr(torch, "set_default_dtype", lambda dtype: switched.append(dtype))
    found = census(Qwen3VLForConditionalGeneration, config)
    assert found.params and not switched
