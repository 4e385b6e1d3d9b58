"""The GPU memory plan: what each enabled model will hold on the device, computed from its configuration alone,
before anything is loaded, so that the worker loads only what fits (`check_fits`) and a person learns which setting
would make the rest fit. `python -m model_worker.plan` prints it for a card size (plan_cli.py).

A plan's parts (the arithmetic is in plan_sizes.py); the resident ones are added up, and of the transient ones
(`TRANSIENT_PARTS`: a prefill's activations, a Token2Wav window), which never coexist, the larger is added:

- weights: what the worker keeps after loading. Omni: everything but the vision tower it drops (it never sends
  images), in the compute dtype, Token2Wav in float32 (the worker casts it); the talker and Token2Wav only with
  OMNI_SPEECH. Detector with USE_4BIT on CUDA: every plain `nn.Linear` outside `model.visual` and `lm_head` in NF4
  (packed 4-bit weights and their double-quantised scales, as bitsandbytes stores them), the rest in the compute
  dtype, the LoRA in float32 beside them (as PEFT keeps it); otherwise all in the compute dtype, the LoRA merged.
- kv_cache: keys and values for the longest prompt the limits allow plus every new token, per text model.
- activations: the largest transient of one prefill (an estimate from the layer sizes).
- thinker_states (speech only): generate() keeps every thinker layer's hidden states for the talker.
- speech (speech only): the peak of one Token2Wav window (speech.py).

Token2Wav runs after the thinker's and the talker's prefills have returned, so their transients are not alive at
once; the KV caches and the thinker states still are (generate() holds them until it returns). Not counted: the
CUDA context (~0.3-0.5 GiB per process), which is already missing from the free memory the worker reads (the CLI
subtracts it from a card's size).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from transformers import AutoConfig

from .config import WorkerConfig
from .plan_sizes import LoraShape, detector_sizes, omni_sizes

GIB = 1024**3
TRANSIENT_PARTS = ("activations", "speech")  # alive one at a time: the largest of them counts
# The pdfme form-field adapter (r 16, alpha 32, q/k/v/o_proj): assumed when the adapter's config cannot be read.
DEFAULT_LORA = LoraShape(16, ("q_proj", "k_proj", "v_proj", "o_proj"))


def gib(size: float) -> str:
    return f"{size / GIB:.2f}"


@dataclass(frozen=True)
class ModelPlan:
    key: str  # "omni" or "detector"
    parameters: int  # parameters kept on the device (a merged LoRA adds none)
    parts: dict[str, int]  # name -> bytes, in the order they are allocated
    weights: dict[str, int] = field(default_factory=dict)  # the "weights" part by storage (dtype, nf4, buffers)
    dtype: torch.dtype = field(default=torch.bfloat16, compare=False, repr=False)
    on_cuda: bool = field(default=True, compare=False, repr=False)
    model_config: Any = field(default=None, compare=False, repr=False)
    lora: LoraShape | None = field(default=None, compare=False, repr=False)

    @property
    def total_bytes(self) -> int:
        """The peak: every resident part, plus the largest transient one."""
        resident = sum(size for name, size in self.parts.items() if name not in TRANSIENT_PARTS)
        return resident + max((size for name, size in self.parts.items() if name in TRANSIENT_PARTS), default=0)

    @property
    def working_bytes(self) -> int:
        """What the model allocates once it serves requests, beyond its weights: a free-memory reading taken after
        it loaded does not show this yet, so a later check must subtract it."""
        return self.total_bytes - self.parts["weights"]

    def describe(self) -> str:
        parameters = f"{self.parameters / 1e9:.2f} B parameters"
        return f"{self.key}: {gib(self.total_bytes)} GiB ({self.describe_parts()}); {parameters}"

    def describe_parts(self) -> str:
        return ", ".join(f"{name} {gib(size)}" for name, size in self.parts.items())


# -- planning ------------------------------------------------------------------------------------------------------
def read_lora_shape(config: WorkerConfig) -> LoraShape | None:
    """The adapter's rank and targets from its adapter_config.json (a local directory or the hub cache), or the
    pdfme adapter's shape when that cannot be read (the LoRA is ~60 MB of the plan either way)."""
    if not config.vl_lora_adapter:
        return None
    from transformers.utils import cached_file

    try:
        path = cached_file(config.vl_lora_adapter, "adapter_config.json", local_files_only=config.hf_hub_offline)
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        targets = data["target_modules"]
        return LoraShape(int(data["r"]), (targets,) if isinstance(targets, str) else tuple(targets))
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_LORA


def plan_model(key: str, config: WorkerConfig, dtype: torch.dtype, on_cuda: bool, model_config,
               lora: LoraShape | None = None) -> ModelPlan:
    """One model's plan from its (already read) configuration; cheap once its meta census is cached."""
    if key == "omni":
        sizes = omni_sizes(config, model_config, dtype)
    elif key == "detector":  # 4-bit only where bitsandbytes runs it for the worker: on CUDA
        sizes = detector_sizes(config, model_config, dtype, config.use_4bit and on_cuda, lora)
    else:
        raise ValueError(f"unknown model {key!r}")
    return ModelPlan(key, sizes.parameters, sizes.parts, sizes.weights, dtype, on_cuda, model_config, lora)


def plan_models(
    config: WorkerConfig, dtype: torch.dtype, *, on_cuda: bool = True, model_configs: Mapping | None = None
) -> list[ModelPlan]:
    """Plans for `config.enabled_models`, in order. `model_configs` may hold "omni" / "detector" config objects and a
    "lora" shape (anything with `r` and `target_modules`, or None); what it lacks is read as the worker reads it."""
    given = dict(model_configs or {})
    lora = given["lora"] if "lora" in given else read_lora_shape(config)
    lora = None if lora is None else LoraShape(int(lora.r), tuple(lora.target_modules))
    plans = []
    for key in config.enabled_models:
        if key in given:
            model_config = given[key]
        else:
            path = config.omni_model if key == "omni" else config.vl_base_model
            model_config = AutoConfig.from_pretrained(path, local_files_only=config.hf_hub_offline)
        plans.append(plan_model(key, config, dtype, on_cuda, model_config, lora))
    return plans


def replan(plans: Sequence[ModelPlan], config: WorkerConfig) -> list[ModelPlan]:
    """The same models planned again under other settings."""
    return [plan_model(p.key, config, p.dtype, p.on_cuda, p.model_config, p.lora) for p in plans]


# -- fitting -------------------------------------------------------------------------------------------------------
class NotEnoughMemory(RuntimeError):
    """The models do not fit in the GPU memory left for them; the message says which setting would make them fit,
    and `suggestions` holds the same as data."""

    def __init__(self, message: str, suggestions: Sequence[Suggestion] = ()):
        super().__init__(message)
        self.suggestions = list(suggestions)


@dataclass(frozen=True)
class Suggestion:
    setting: str  # what to set, e.g. "OMNI_SPEECH=false"
    note: str  # what it changes, e.g. "saves 2.93 GiB"
    fits: bool  # whether this change alone makes the models fit
    saves_bytes: int = 0


# Settings that switch a memory-hungry feature off: (model, which config field, its value now -> the new value).
_SWITCHES = (
    ("omni", "omni_speech", True, False, "OMNI_SPEECH=false"),
    ("detector", "use_4bit", False, True, "USE_4BIT=true"),
)
# Limits whose lower values need less memory: (model, config field, variable, the lowest value worth suggesting).
# Below those the feature stops being useful: 10 s of audio, a 128-token answer, 10 s of speech (50 codes per
# second), a 512-token detection answer (~25 boxes of JSON), a 512 px form. A smaller window only costs speed.
_LIMITS = (
    ("omni", "max_audio_seconds", "MAX_AUDIO_SECONDS", 10),
    ("omni", "omni_max_new_tokens", "OMNI_MAX_NEW_TOKENS", 128),
    ("omni", "omni_talker_max_new_tokens", "OMNI_TALKER_MAX_NEW_TOKENS", 500),
    ("omni", "omni_speech_window_s", "OMNI_SPEECH_WINDOW_S", 1),
    ("detector", "detector_max_new_tokens", "DETECTOR_MAX_NEW_TOKENS", 512),
    ("detector", "detector_max_side", "DETECTOR_MAX_SIDE", 512),
)


def _need(plans: Sequence[ModelPlan], config: WorkerConfig) -> int:
    return sum(p.total_bytes for p in replan(plans, config))


def _switch_suggestions(plans, config, need, available) -> list[Suggestion]:
    keys = {p.key for p in plans}
    found = []
    for key, name, now, new, setting in _SWITCHES:
        if key in keys and getattr(config, name) == now:
            if name == "use_4bit" and not all(p.on_cuda for p in plans if p.key == key):
                continue  # 4-bit is CUDA-only
            after = _need(plans, replace(config, **{name: new}))
            if after < need:
                found.append(Suggestion(setting, f"saves {gib(need - after)} GiB", after <= available, need - after))
    return found


def _largest_fitting(plans, config, name: str, lowest: int, available: int) -> int | None:
    """The largest whole value from `lowest` up to below the current one for which the models fit (memory grows
    with it), or None."""
    low, high = lowest, math.ceil(getattr(config, name)) - 1
    if high < low or _need(plans, replace(config, **{name: low})) > available:
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if _need(plans, replace(config, **{name: middle})) <= available:
            low = middle
        else:
            high = middle - 1
    return low


def _limit_suggestions(plans, config, need, available) -> list[Suggestion]:
    keys = {p.key for p in plans}
    found = []
    for key, name, variable, lowest in _LIMITS:
        if key not in keys or getattr(config, name) <= lowest:
            continue
        value = _largest_fitting(plans, config, name, lowest, available)
        after = _need(plans, replace(config, **{name: lowest if value is None else value}))
        if after < need:
            note = "the lowest this advice goes" if value is None else "the largest value that fits"
            setting = f"{variable}={lowest if value is None else value}"
            found.append(Suggestion(setting, f"{note}; saves {gib(need - after)} GiB", value is not None, need - after))
    return found


def _reserve_suggestion(need, free_bytes, reserve_bytes) -> list[Suggestion]:
    """Less memory kept back for others (Ollama), when the models fit in what the device has free."""
    if reserve_bytes <= 0 or need > free_bytes:
        return []
    value = int((free_bytes - need) / GIB * 10) / 10
    return [Suggestion(f"GPU_RESERVE_GIB={value:g}", f"leaves others {value:g} GiB instead of "
                       f"{reserve_bytes / GIB:g}", True)]


def _leave_out_suggestions(plans, config, available) -> list[Suggestion]:
    found = []
    for plan in plans:
        rest = sum(p.total_bytes for p in plans if p is not plan)
        if rest <= available:
            enabled = ",".join(key for key in config.enabled_models if key != plan.key)
            found.append(Suggestion(f"ENABLED_MODELS={enabled}", f"{plan.key} not loaded", True, plan.total_bytes))
    return found


def suggestions_for(plans, free_bytes: int, reserve_bytes: int, config: WorkerConfig) -> list[Suggestion]:
    """Every setting that lowers the need, each re-planned alone: switches, limits at the largest value that
    fits, a smaller GPU_RESERVE_GIB, and the models that could be left out."""
    need, available = sum(p.total_bytes for p in plans), free_bytes - reserve_bytes
    settings = _switch_suggestions(plans, config, need, available) + _limit_suggestions(plans, config, need, available)
    settings.sort(key=lambda s: (not s.fits, -s.saves_bytes))
    return settings + _reserve_suggestion(need, free_bytes, reserve_bytes) + _leave_out_suggestions(
        plans, config, available
    )


def _shortfall(plans, free_bytes: int, reserve_bytes: int) -> str:
    need, available = sum(p.total_bytes for p in plans), free_bytes - reserve_bytes
    if len(plans) == 1:
        what = f"{plans[0].key} needs {gib(need)} GiB ({plans[0].describe_parts()})"
    else:
        each = "; ".join(f"{p.key} {gib(p.total_bytes)}: {p.describe_parts()}" for p in plans)
        what = f"{' + '.join(p.key for p in plans)} need {gib(need)} GiB ({each})"
    return (f"Not enough GPU memory: {what}, but {gib(free_bytes)} GiB free on the device minus GPU_RESERVE_GIB="
            f"{reserve_bytes / GIB:g} leaves {gib(available)} GiB ({gib(need - available)} GiB short).")


def _advice(suggestions: Sequence[Suggestion]) -> str:
    def listed(items):
        return "; ".join(f"{s.setting} ({s.note})" for s in items)

    settings = [s for s in suggestions if not s.setting.startswith("ENABLED_MODELS=")]
    leave_out = [s for s in suggestions if s.setting.startswith("ENABLED_MODELS=")]
    fitting = [s for s in settings if s.fits]
    if fitting:
        text = f"Any one of these makes it fit: {listed(fitting)}."
    elif settings:
        text = f"No single setting is enough; these reduce the need: {listed(settings)}."
    else:
        text = "No setting of this model lowers its need enough."
    if leave_out:
        text += f" Or leave a model out: {listed(leave_out)}."
    return text + " Or use a GPU with more free memory."


def check_fits_together(plans: Sequence[ModelPlan], free_bytes: int, reserve_bytes: int, config: WorkerConfig):
    """Raise NotEnoughMemory unless all `plans` fit in `free_bytes` minus `reserve_bytes`."""
    if sum(p.total_bytes for p in plans) <= free_bytes - reserve_bytes:
        return
    suggestions = suggestions_for(plans, free_bytes, reserve_bytes, config)
    raise NotEnoughMemory(f"{_shortfall(plans, free_bytes, reserve_bytes)} {_advice(suggestions)}", suggestions)


def check_fits(plan: ModelPlan, free_bytes: int, reserve_bytes: int, config: WorkerConfig) -> None:
    """Raise NotEnoughMemory unless `plan` fits in `free_bytes` (what the device has free now) minus
    `reserve_bytes` (GPU_RESERVE_GIB, kept for others); the message has the numbers and what would fit."""
    check_fits_together([plan], free_bytes, reserve_bytes, config)


if __name__ == "__main__":
    from .plan_cli import main

    raise SystemExit(main())
