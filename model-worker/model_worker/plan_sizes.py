"""The memory plan's arithmetic: device bytes of each model's weights, KV cache, activations and speech path,
from its configuration alone (plan.py turns them into plans and fit checks).

Parameters are counted exactly by building the model on torch's `meta` device (no memory; a few seconds for a
real-size model, so cached per configuration). Everything else is computed from the configs' sizes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import (
    Qwen2_5OmniForConditionalGeneration,
    Qwen2_5OmniThinkerForConditionalGeneration,
    Qwen3VLForConditionalGeneration,
)
from transformers.quantizers.quantizers_utils import should_convert_module

from .config import WorkerConfig
from .detector import FOUR_BIT_SKIP_MODULES
from .speech import speech_peak_bytes, window_codes_for

PROMPT_TEXT_TOKENS = 400  # system prompt, instruction and chat template around the audio or the image
# Qwen2.5-Omni's Whisper feature extractor: 16 kHz audio, hop 160 -> 100 log-mel frames per second, at most
# nb_max_frames = 30000 (its 300 s chunk_length). The processor turns frames into audio tokens with
# `_get_feat_extract_output_lengths` (conv stride 2, then pooling stride 2): 25 tokens per second.
AUDIO_FRAMES_PER_SECOND = 100
MAX_AUDIO_FRAMES = 30_000
# bitsandbytes NF4 with double quantisation (bitsandbytes.functional.quantize_4bit): two weights per byte, one
# uint8 absmax per block of 64, those absmax re-quantised in blocks of 256 with one float32 scale each, a float32
# offset, the 16-entry NF4 code and the 256-entry dynamic code (float32), per quantised layer.
NF4_BLOCK, NESTED_BLOCK = 64, 256
NF4_FIXED_BYTES = 4 + 16 * 4 + 256 * 4


@dataclass(frozen=True)
class LoraShape:
    """What a LoRA adapter adds: rank `r` on every linear layer whose name ends with one of `target_modules`."""

    r: int
    target_modules: tuple[str, ...]


@dataclass(frozen=True)
class Sizes:
    parameters: int  # kept on the device
    weights: dict[str, int]  # bytes by storage: a dtype name, "nf4", "lora float32", "buffers"
    parts: dict[str, int]  # "weights", "kv_cache", "activations"[, "thinker_states", "speech"] -> bytes


# -- parameters, counted on the meta device ------------------------------------------------------------------------
@dataclass(frozen=True)
class Census:
    """A model's tensors without their data: parameter element counts, buffer bytes (at 4 bytes per element, an
    upper bound), the plain `nn.Linear` layers (what bitsandbytes quantises and PEFT adapts), the vision towers."""

    params: dict[str, int]
    buffers: dict[str, int]
    linears: dict[str, tuple[int, int]]  # module name -> (in_features, out_features)
    vision_towers: tuple[str, ...]
    keep_in_fp32: tuple[str, ...]


_CENSUS_CACHE: dict[tuple[str, str], Census] = {}


def census(model_cls, model_config) -> Census:
    """Build `model_cls` from `model_config` on the meta device and record its tensors (cached per configuration).

    Built with no dtype: given one (a checkpoint's config.json has "bfloat16"), `_from_config` would switch torch's
    process-wide default dtype while it builds, which races with a load in another thread (see loading.py)."""
    key = (model_cls.__qualname__, model_config.to_json_string(use_diff=False))
    if key not in _CENSUS_CACHE:
        with torch.device("meta"):
            model = model_cls._from_config(copy.deepcopy(model_config), dtype=None)
        modules = dict(model.named_modules())
        _CENSUS_CACHE[key] = Census(
            params={name: p.numel() for name, p in model.named_parameters()},
            buffers={name: b.numel() * 4 for name, b in model.named_buffers()},
            linears={name: (m.in_features, m.out_features) for name, m in modules.items()
                     if type(m) is torch.nn.Linear},  # exactly nn.Linear, as transformers' bnb replacement checks
            vision_towers=tuple(name for name in modules if name.rsplit(".", 1)[-1] == "visual"),
            keep_in_fp32=tuple(getattr(model, "_keep_in_fp32_modules", None) or ()),
        )
    return _CENSUS_CACHE[key]


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _label(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def nf4_bytes(elements: int) -> int:
    """Device bytes of one NF4 weight of `elements` values with double quantisation, scales included."""
    blocks = math.ceil(elements / NF4_BLOCK)
    return math.ceil(elements / 2) + blocks + 4 * math.ceil(blocks / NESTED_BLOCK) + NF4_FIXED_BYTES


# -- token counts and per-token sizes ------------------------------------------------------------------------------
def audio_tokens(seconds: float) -> int:
    """Thinker audio tokens for `seconds` of audio, as Qwen2.5-Omni's processor counts them (25 per second)."""
    frames = min(math.ceil(seconds * AUDIO_FRAMES_PER_SECOND), MAX_AUDIO_FRAMES)
    return ((frames - 1) // 2 + 1 - 2) // 2 + 1


def image_tokens(vision_config, side: int) -> int:
    """LLM tokens of the worst image the detector sees: a square of `side` pixels, resized like the Qwen-VL image
    processor's `smart_resize` (each side rounded to patch x merge pixels), `merge`^2 patches per token. The
    processor's min/max pixel bounds are not applied: the plan is for a side within them."""
    factor = vision_config.patch_size * vision_config.spatial_merge_size
    return max(1, round(side / factor)) ** 2


def kv_bytes(text_config, tokens: int, dtype_bytes: int) -> int:
    """Keys and values of every layer for `tokens` tokens: 2 x layers x kv_heads x head_dim x tokens x bytes."""
    head_dim = getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads
    layers, kv_heads = text_config.num_hidden_layers, text_config.num_key_value_heads
    return 2 * layers * kv_heads * head_dim * tokens * dtype_bytes


def decoder_peak(hidden: int, intermediate: int, tokens: int, dtype_bytes: int, gated: bool = True) -> int:
    """One transformer layer's largest moment over `tokens` tokens: the MLP's intermediate tensors (gated: the
    activation, the up projection and their product; plain: fc1's output and its activation) beside about four
    hidden-size tensors (residual, norm, attention output, layer output). Attention through SDPA's fused kernels
    keeps no tokens x tokens matrix."""
    return tokens * ((3 if gated else 2) * intermediate + 4 * hidden) * dtype_bytes


# -- Omni ----------------------------------------------------------------------------------------------------------
def _omni_weights(found: Census, dtype: torch.dtype) -> tuple[int, dict[str, int]]:
    """(parameters kept, bytes by storage): the vision tower dropped, Token2Wav in float32, the rest in `dtype`."""
    kept = {name: n for name, n in found.params.items() if not _under(name, found.vision_towers)}
    weights: dict[str, int] = {}
    for name, elements in kept.items():
        kind = torch.float32 if name.startswith("token2wav.") else dtype
        weights[_label(kind)] = weights.get(_label(kind), 0) + elements * kind.itemsize
    weights["buffers"] = sum(size for name, size in found.buffers.items() if not _under(name, found.vision_towers))
    return sum(kept.values()), weights


def _omni_activations(thinker, talker, config: WorkerConfig, prompt: int, dtype_bytes: int) -> int:
    """The largest transient: the audio encoder over the longest clip, a thinker layer over the prompt, or the
    thinker's logits (its forward computes them for every prompt token), and with speech the talker's prefill
    (its logits upcast to float32)."""
    audio, text = thinker.audio_config, thinker.text_config
    frames = min(math.ceil(config.max_audio_seconds * AUDIO_FRAMES_PER_SECOND), MAX_AUDIO_FRAMES)
    positions = (frames - 1) // 2 + 1  # after the stride-2 convolution
    peaks = [
        3 * audio.d_model * frames * dtype_bytes,  # conv1's output, its activation, the masked copy
        decoder_peak(audio.d_model, audio.encoder_ffn_dim, positions, dtype_bytes, gated=False),
        decoder_peak(text.hidden_size, text.intermediate_size, prompt, dtype_bytes),
        prompt * (text.vocab_size + 2 * text.hidden_size) * dtype_bytes,
    ]
    if talker is not None:
        talker_prompt = prompt + 2
        peaks.append(decoder_peak(talker.hidden_size, talker.intermediate_size, talker_prompt, dtype_bytes))
        peaks.append(talker_prompt * talker.vocab_size * (dtype_bytes + 4))
    return max(peaks)


def _omni_speech_parts(model_config, config: WorkerConfig, prompt: int, dtype_bytes: int) -> dict[str, int]:
    """With speech: the hidden states generate() keeps for the talker (every thinker layer, every token), and the
    windowed Token2Wav's peak in float32 for the longest answer the talker may write (speech.py)."""
    text, token2wav = model_config.thinker_config.text_config, model_config.token2wav_config
    tokens = prompt + config.omni_max_new_tokens
    window = window_codes_for(token2wav.dit_config, config.omni_speech_window_s)
    return {
        "thinker_states": (text.num_hidden_layers + 1) * tokens * text.hidden_size * dtype_bytes,
        "speech": speech_peak_bytes(token2wav.dit_config, token2wav.bigvgan_config, window, dtype_bytes=4,
                                    answer_codes=config.omni_talker_max_new_tokens),
    }


def omni_sizes(config: WorkerConfig, model_config, dtype: torch.dtype) -> Sizes:
    """Qwen2.5-Omni as the worker holds it: the full model with OMNI_SPEECH, else the thinker alone."""
    speech = config.omni_speech
    if speech:
        found = census(Qwen2_5OmniForConditionalGeneration, model_config)
    else:
        found = census(Qwen2_5OmniThinkerForConditionalGeneration, model_config.thinker_config)
    parameters, weights = _omni_weights(found, dtype)
    thinker, talker = model_config.thinker_config, model_config.talker_config if speech else None
    prompt = audio_tokens(config.max_audio_seconds) + PROMPT_TEXT_TOKENS
    kv = kv_bytes(thinker.text_config, prompt + config.omni_max_new_tokens, dtype.itemsize)
    if talker is not None:  # the talker reads the whole thinker context (+ pad and bos), then writes its codes
        kv += kv_bytes(talker, prompt + 2 + config.omni_talker_max_new_tokens, dtype.itemsize)
    parts = {
        "weights": sum(weights.values()),
        "kv_cache": kv,
        "activations": _omni_activations(thinker, talker, config, prompt, dtype.itemsize),
    }
    if speech:
        parts.update(_omni_speech_parts(model_config, config, prompt, dtype.itemsize))
    return Sizes(parameters, weights, parts)


# -- detector ------------------------------------------------------------------------------------------------------
def quantised_linears(found: Census) -> dict[str, tuple[int, int]]:
    """The layers transformers turns into bitsandbytes' Linear4bit: plain nn.Linear outside the skipped modules
    (the worker's FOUR_BIT_SKIP_MODULES and the model's own float32 modules), matched by transformers' own rule."""
    skip = [*FOUR_BIT_SKIP_MODULES, *found.keep_in_fp32]
    return {name: shape for name, shape in found.linears.items() if should_convert_module(name, skip)}


def lora_parameters(found: Census, lora: LoraShape) -> int:
    """r x (in + out) for every linear layer PEFT adapts (its name ends with a target module, as PEFT matches)."""
    return sum(
        lora.r * (fan_in + fan_out)
        for name, (fan_in, fan_out) in found.linears.items()
        if any(name == target or name.endswith("." + target) for target in lora.target_modules)
    )


def _detector_weights(found: Census, dtype: torch.dtype, quantised: bool, lora: LoraShape | None):
    """(parameters kept, bytes by storage): NF4 + a float32 LoRA beside it, or everything in `dtype` with the LoRA
    merged in (no extra parameters)."""
    four_bit = {f"{name}.weight" for name in quantised_linears(found)} if quantised else set()
    weights = {_label(dtype): 0, "nf4": 0} if quantised else {_label(dtype): 0}
    for name, elements in found.params.items():
        if name in four_bit:
            weights["nf4"] += nf4_bytes(elements)
        else:
            weights[_label(dtype)] += elements * dtype.itemsize
    parameters = sum(found.params.values())
    if quantised and lora is not None:
        adapter = lora_parameters(found, lora)
        weights["lora float32"] = adapter * 4
        parameters += adapter
    weights["buffers"] = sum(found.buffers.values())
    return parameters, weights


def _detector_activations(model_config, config: WorkerConfig, found: Census, quantised: bool, dtype_bytes: int):
    """The vision tower over the image's patches, or a text layer over the prompt with the deepstack features beside
    it and, in 4-bit, the largest quantised weight dequantised for the prefill's matmul. Only the last token's
    logits are computed (Qwen3-VL supports logits_to_keep)."""
    vision, text = model_config.vision_config, model_config.text_config
    tokens = image_tokens(vision, config.detector_max_side)
    patches = tokens * vision.spatial_merge_size**2
    text_peak = decoder_peak(text.hidden_size, text.intermediate_size, tokens + PROMPT_TEXT_TOKENS, dtype_bytes)
    text_peak += len(vision.deepstack_visual_indexes) * tokens * text.hidden_size * dtype_bytes
    if quantised:
        text_peak += max(i * o for i, o in quantised_linears(found).values()) * dtype_bytes
    vision_peak = decoder_peak(vision.hidden_size, vision.intermediate_size, patches, dtype_bytes, gated=False)
    return max(vision_peak, text_peak)


def detector_sizes(config: WorkerConfig, model_config, dtype: torch.dtype, quantised: bool, lora) -> Sizes:
    """Qwen3-VL (+ LoRA when VL_LORA_ADAPTER is set) as the worker holds it, 4-bit when `quantised`."""
    lora = lora if config.vl_lora_adapter else None
    found = census(Qwen3VLForConditionalGeneration, model_config)
    parameters, weights = _detector_weights(found, dtype, quantised, lora)
    prompt = image_tokens(model_config.vision_config, config.detector_max_side) + PROMPT_TEXT_TOKENS
    parts = {
        "weights": sum(weights.values()),
        "kv_cache": kv_bytes(model_config.text_config, prompt + config.detector_max_new_tokens, dtype.itemsize),
        "activations": _detector_activations(model_config, config, found, quantised, dtype.itemsize),
    }
    return Sizes(parameters, weights, parts)
