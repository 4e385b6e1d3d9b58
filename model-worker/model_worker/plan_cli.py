"""`python -m model_worker.plan` (from model-worker/): the GPU memory plan of the configured models on a card of a
given size, and whether they fit. No GPU needed, only the models' config.json files.

It reads the worker's own environment (OMNI_MODEL, VL_BASE_MODEL, VL_LORA_ADAPTER, ENABLED_MODELS, USE_4BIT,
OMNI_SPEECH, the limits, GPU_RESERVE_GIB, HF_HUB_OFFLINE) and exits 0 when the models fit on every card asked
about, 1 when they do not, 2 when a setting or a config cannot be read.
"""

from __future__ import annotations

import argparse
import sys

import torch

from .config import ConfigError, WorkerConfig
from .plan import GIB, NotEnoughMemory, check_fits_together, gib, plan_models

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# What a CUDA process holds before any tensor (context, cuBLAS/cuDNN workspaces): not in the plan, since the
# worker reads free memory after creating it, but part of a card's size.
CUDA_CONTEXT_GIB = 0.5


def parse_args(argv: list[str] | None, config: WorkerConfig) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_worker.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu-gib", type=float, nargs="+", default=[24.0], metavar="GIB",
                        help="card size(s) in GiB (default: 24)")
    parser.add_argument("--reserve-gib", type=float, default=config.gpu_reserve_gib,
                        help="memory kept free for others, e.g. Ollama (default: GPU_RESERVE_GIB, "
                             f"now {config.gpu_reserve_gib:g})")
    parser.add_argument("--dtype", choices=DTYPES, default="bfloat16", help="compute dtype (default: bfloat16)")
    parser.add_argument("--context-gib", type=float, default=CUDA_CONTEXT_GIB,
                        help=f"the CUDA context of the worker's process (default: {CUDA_CONTEXT_GIB:g})")
    return parser.parse_args(argv)


def _settings(key: str, config: WorkerConfig) -> str:
    """The settings a model's plan depends on, as the variables a person would change."""
    if key == "omni":
        speech = (f", OMNI_TALKER_MAX_NEW_TOKENS={config.omni_talker_max_new_tokens}, "
                  f"OMNI_SPEECH_WINDOW_S={config.omni_speech_window_s:g}") if config.omni_speech else ""
        return (f"{config.omni_model}: OMNI_SPEECH={str(config.omni_speech).lower()}, MAX_AUDIO_SECONDS="
                f"{config.max_audio_seconds:g}, OMNI_MAX_NEW_TOKENS={config.omni_max_new_tokens}{speech}")
    adapter = f" + {config.vl_lora_adapter}" if config.vl_lora_adapter else ""
    return (f"{config.vl_base_model}{adapter}: USE_4BIT={str(config.use_4bit).lower()}, DETECTOR_MAX_SIDE="
            f"{config.detector_max_side}, DETECTOR_MAX_NEW_TOKENS={config.detector_max_new_tokens}")


def plan_lines(plans, config: WorkerConfig, dtype_name: str) -> list[str]:
    lines = [f"GPU memory plan ({dtype_name}, from the models' configs; GiB)"]
    for plan in plans:
        weights = ", ".join(f"{kind} {gib(size)}" for kind, size in plan.weights.items())
        lines += [
            f"  {plan.key} ({_settings(plan.key, config)})",
            f"    {gib(plan.total_bytes)} GiB: {plan.describe_parts()}; {plan.parameters / 1e9:.2f} B parameters",
            f"    weights by storage: {weights}",
        ]
    lines.append(f"  total {gib(sum(p.total_bytes for p in plans))} GiB")
    return lines


def card_lines(plans, config: WorkerConfig, card_gib: float, reserve_gib: float, context_gib: float):
    """(lines, fits) for one card size: what is available, FITS or DOES NOT FIT, and what would fit."""
    free, reserve = int((card_gib - context_gib) * GIB), int(reserve_gib * GIB)
    need = sum(p.total_bytes for p in plans)
    head = (f"{card_gib:g} GiB card: {gib(free)} free after the CUDA context ({context_gib:g}), minus "
            f"{reserve_gib:g} reserved = {gib(free - reserve)} GiB for {gib(need)} GiB:")
    try:
        check_fits_together(plans, free, reserve, config)
    except NotEnoughMemory as exc:
        return [head, "  DOES NOT FIT", f"  {exc}"], False
    return [head, f"  FITS ({gib(free - reserve - need)} GiB to spare)"], True


def main(argv: list[str] | None = None) -> int:
    try:
        config = WorkerConfig.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parse_args(argv, config)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # config validation notes about the talker's token ids are not for this reader
    if not config.enabled_models:
        print("ENABLED_MODELS is empty: no model, nothing to plan")
        return 0
    try:
        plans = plan_models(config, DTYPES[args.dtype], on_cuda=True)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read a model's config: {exc}", file=sys.stderr)
        return 2
    print("\n".join(plan_lines(plans, config, args.dtype)))
    fits_everywhere = True
    for card in args.gpu_gib:
        lines, fits = card_lines(plans, config, card, args.reserve_gib, args.context_gib)
        print("\n".join(lines))
        fits_everywhere &= fits
    return 0 if fits_everywhere else 1
