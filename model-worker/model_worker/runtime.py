"""Device and dtype selection, and the Hugging Face loading options shared by both models."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

import torch

from .config import WorkerConfig

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu", "cuda" or "cuda:N"
    dtype: torch.dtype

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def choose_placement(config: WorkerConfig) -> Placement:
    """DEVICE=auto: CUDA when present, else CPU. DTYPE=auto: bf16 on CUDA that supports it, else fp16; CPU fp32."""
    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"DEVICE={config.device} but no CUDA device is available to torch {torch.__version__}")
    if config.dtype != "auto":
        dtype = _DTYPES[config.dtype]
    elif device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    return Placement(device=device, dtype=dtype)


def prepare_torch(placement: Placement) -> None:
    """Process-wide torch settings for inference on `placement` (generate() itself runs without gradients)."""
    if not placement.is_cuda and torch.backends.mkldnn.enabled:
        # On CPU, oneDNN makes the first Qwen2.5-Omni Token2Wav forward of each process cost 7-10 s (its
        # convolution primitives are JIT-built per shape); plain ATen kernels take 0.4 s. Measured on torch 2.13.
        torch.backends.mkldnn.enabled = False
        log.info("CPU inference: oneDNN (mkldnn) disabled for faster Token2Wav convolutions")


def hub_kwargs(config: WorkerConfig) -> dict:
    """Options for every from_pretrained call: local files only when HF_HUB_OFFLINE is set."""
    kwargs: dict = {}
    if config.hf_hub_offline:
        kwargs["local_files_only"] = True
    return kwargs


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure: CUDA's OutOfMemoryError, or the CPU allocator's (a RuntimeError on torch 2.13)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(exc)


def release_memory() -> None:
    """Return what the caching allocator holds but no tensor uses, so the next request (or Ollama) can have it."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
