"""The real-time voice service's settings: every environment variable it reads, with its default, in one place.

| Variable             | Default                   | Meaning                                                          |
|----------------------|---------------------------|------------------------------------------------------------------|
| `PORT`               | `8998`                    | port of the HTTP/WebSocket listener (Moshi's own default)        |
| `HOST`               | `0.0.0.0`                 | address to listen on                                             |
| `MOSHI_REPO`         | `nu-dialogue/j-moshi-ext` | Hugging Face repository of the Moshi checkpoint (J-Moshi)        |
| `MOSHI_REVISION`     | unset (main)              | a branch, tag or commit of `MOSHI_REPO`                          |
| `MOSHI_MODEL_DIR`    | unset                     | a local checkpoint directory instead of `MOSHI_REPO` (see below) |
| `MOSHI_MIMI_WEIGHTS` | unset                     | another Mimi codec file, a path or `hf://<repo>/<file>`          |
| `HF_HUB_OFFLINE`     | `0`                       | `1`: only the local Hugging Face cache, never the network        |
| `DEVICE`             | `cuda`                    | `cuda`, `cuda:<n>` (which card) or `cpu`                         |
| `DTYPE`              | `bfloat16`                | the LM's weights: `bfloat16`, `float16` (pre-Ampere), `float32`  |
| `MAX_CONVERSATIONS`  | `1`                       | conversations at once; one more is refused (close 1013)          |
| `IDLE_TIMEOUT_S`     | `15`                      | a conversation with no audio from the client for this long ends  |
| `MAX_CONVERSATION_S` | `900`                     | the longest conversation                                         |
| `MAX_MESSAGE_KB`     | `64`                      | the largest WebSocket message accepted (close 1009 above)        |
| `TEMPERATURE`        | `0.8`                     | sampling temperature of the audio tokens (Moshi's default)       |
| `TEMPERATURE_TEXT`   | `0.7`                     | sampling temperature of the text tokens                          |
| `TOP_K`              | `250`                     | top-k of the audio tokens                                        |
| `TOP_K_TEXT`         | `25`                      | top-k of the text tokens                                         |
| `SEED`               | unset (random)            | a seed set at the start of every conversation (reproducible runs)|
| `WARMUP`             | `1`                       | run a few silent frames after loading, before answering          |

A local checkpoint directory holds either the three files of J-Moshi's repositories (`model.safetensors`,
`tokenizer_spm_32k_3.model`, `tokenizer-e351c8d8-checkpoint125.safetensors`: the Moshi 7B architecture), or a
`config.json` in the format of Kyutai's newer repositories (the LM's settings plus `moshi_name`, `mimi_name`,
`tokenizer_name` and optionally `mimi_config_name`, file names relative to the directory).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_REPO = "nu-dialogue/j-moshi-ext"
DTYPES = ("bfloat16", "float16", "float32")


class ConfigError(ValueError):
    """A setting has a value the service cannot use; the message names it."""


@dataclass(frozen=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 8998
    moshi_repo: str = DEFAULT_REPO
    moshi_revision: str | None = None
    moshi_model_dir: str | None = None
    mimi_weights: str | None = None
    hf_hub_offline: bool = False
    device: str = "cuda"
    dtype: str = "bfloat16"
    max_conversations: int = 1
    idle_timeout_s: float = 15.0
    max_conversation_s: float = 900.0
    max_message_bytes: int = 64 * 1024
    temperature: float = 0.8
    temperature_text: float = 0.7
    top_k: int = 250
    top_k_text: int = 25
    seed: int | None = None
    warmup: bool = True

    @property
    def model_name(self) -> str:
        return self.moshi_model_dir or self.moshi_repo


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, kind=float):
    raw = _text(env, name)
    if raw is None:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a{'n integer' if kind is int else ' number'}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low:g} to {high:g}, got {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (_text(env, name) or "").lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true or false), got {raw!r}")


def _device(raw: str) -> str:
    if raw == "cpu" or raw == "cuda" or (raw.startswith("cuda:") and raw[5:].isdigit()):
        return raw
    raise ConfigError(f"DEVICE must be cuda, cuda:<n> or cpu, got {raw!r}")


def load_config(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    dtype = (_text(env, "DTYPE") or "bfloat16").lower()
    if dtype not in DTYPES:
        raise ConfigError(f"DTYPE must be one of {', '.join(DTYPES)}, got {dtype!r}")
    model_dir = _text(env, "MOSHI_MODEL_DIR")
    if model_dir is not None and not os.path.isdir(model_dir):
        raise ConfigError(f"MOSHI_MODEL_DIR is not a directory: {model_dir}")
    seed = _text(env, "SEED")
    return Config(
        host=_text(env, "HOST") or "0.0.0.0",
        port=_number(env, "PORT", 8998, 1, 65535, int),
        moshi_repo=_text(env, "MOSHI_REPO") or DEFAULT_REPO,
        moshi_revision=_text(env, "MOSHI_REVISION"),
        moshi_model_dir=model_dir,
        mimi_weights=_text(env, "MOSHI_MIMI_WEIGHTS"),
        hf_hub_offline=_flag(env, "HF_HUB_OFFLINE", False),
        device=_device((_text(env, "DEVICE") or "cuda").lower()),
        dtype=dtype,
        max_conversations=_number(env, "MAX_CONVERSATIONS", 1, 1, 16, int),
        idle_timeout_s=_number(env, "IDLE_TIMEOUT_S", 15, 1, 3600),
        max_conversation_s=_number(env, "MAX_CONVERSATION_S", 900, 5, 86400),
        max_message_bytes=_number(env, "MAX_MESSAGE_KB", 64, 1, 4096, int) * 1024,
        temperature=_number(env, "TEMPERATURE", 0.8, 0, 5),
        temperature_text=_number(env, "TEMPERATURE_TEXT", 0.7, 0, 5),
        top_k=_number(env, "TOP_K", 250, 1, 100000, int),
        top_k_text=_number(env, "TOP_K_TEXT", 25, 1, 100000, int),
        seed=None if seed is None else _number(env, "SEED", 0, 0, 2**32 - 1, int),
        warmup=_flag(env, "WARMUP", True),
    )
