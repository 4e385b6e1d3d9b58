"""What a loaded model really holds: the dtype and device of every parameter, measured, and checked against what was
asked for.

`from_pretrained` can leave parameters in another dtype than requested (two loads at once race on torch's
process-wide default dtype; a module the library keeps in float32), or on another device (an automatic device map
that offloads). The worker verifies every parameter after loading and fails the load with a readable reason on any
mismatch, and `/readyz` reports the measured figures, never the configured ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

NF4 = "nf4"


class PlacementMismatch(RuntimeError):
    """Some parameters are not in the dtype or on the device the worker asked for."""


@dataclass(frozen=True)
class Footprint:
    """Measured from the parameters and buffers: where the model lives, in what dtype, and how many bytes."""

    device: str  # "cuda:0", "cpu", or several joined with "+" (largest share first) when split
    dtype: str  # the dtype holding the most parameter bytes ("bfloat16", "nf4", ...)
    memory_bytes: int  # bytes of parameters, buffers and 4-bit scales held on those devices
    bytes_by_dtype: dict[str, int]  # parameter bytes per dtype (nf4 includes its scales)


def _is_4bit(tensor: torch.Tensor) -> bool:
    return type(tensor).__name__ == "Params4bit"


def _quant_state_bytes(tensor: torch.Tensor) -> int:
    """bitsandbytes keeps a 4-bit weight's scales beside it (absmax, and with double quantisation its own scales)."""
    state = getattr(tensor, "quant_state", None)
    total = 0
    while state is not None:
        for name in ("absmax", "code"):
            value = getattr(state, name, None)
            if isinstance(value, torch.Tensor):
                total += value.numel() * value.element_size()
        state = getattr(state, "state2", None)
    return total


def dtype_name(tensor: torch.Tensor) -> str:
    return NF4 if _is_4bit(tensor) else str(tensor.dtype).removeprefix("torch.")


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size() + (_quant_state_bytes(tensor) if _is_4bit(tensor) else 0)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


def measure(module: torch.nn.Module) -> Footprint:
    """The footprint of `module`'s parameters (by dtype) and buffers, read from the tensors themselves."""
    by_dtype: Counter[str] = Counter()
    by_device: Counter[str] = Counter()
    for tensor in module.parameters():
        size = _tensor_bytes(tensor)
        by_dtype[dtype_name(tensor)] += size
        by_device[_device_name(tensor.device)] += size
    for tensor in module.buffers():
        by_device[_device_name(tensor.device)] += _tensor_bytes(tensor)
    return Footprint(
        device="+".join(device for device, _ in by_device.most_common()) or "cpu",
        dtype=by_dtype.most_common(1)[0][0] if by_dtype else "none",
        memory_bytes=sum(by_device.values()),
        bytes_by_dtype=dict(by_dtype.most_common()),
    )


def _same_device(actual: torch.device, wanted: torch.device) -> bool:
    if actual.type != wanted.type:
        return False
    return wanted.index is None or actual.index in (None, wanted.index)


ExpectedDtypes = Callable[[str, torch.Tensor], Iterable[str]]


def verify(module: torch.nn.Module, device: str, expected_dtypes: ExpectedDtypes, *, what: str) -> None:
    """Raise PlacementMismatch unless every parameter is on `device` and in one of `expected_dtypes(name, param)`.

    The message counts the mismatches and names a few, so the reason in `/readyz` says what went wrong."""
    wanted = torch.device(device)
    wrong_dtype: Counter[str] = Counter()
    wrong_device: Counter[str] = Counter()
    examples: list[str] = []
    for name, param in module.named_parameters():
        actual = dtype_name(param)
        allowed = tuple(expected_dtypes(name, param))
        if actual not in allowed:
            wrong_dtype[f"{actual} (expected {' or '.join(allowed)})"] += 1
            if len(examples) < 3:
                examples.append(f"{name}: {actual}")
        if not _same_device(param.device, wanted):
            wrong_device[_device_name(param.device)] += 1
            if len(examples) < 3:
                examples.append(f"{name}: on {param.device}")
    if not wrong_dtype and not wrong_device:
        return
    problems = [f"{count} parameters in {kind}" for kind, count in wrong_dtype.items()]
    problems += [f"{count} parameters on {where} instead of {device}" for where, count in wrong_device.items()]
    raise PlacementMismatch(
        f"{what} did not load as asked: {'; '.join(problems)} (e.g. {', '.join(examples)}). This is a bug or an "
        "incompatible checkpoint; restart the worker, and report it if it happens again"
    )
