"""The worker's configuration: read once from the environment into one frozen dataclass, validated at start.

Every variable, its default and its meaning is listed in `model-worker/README.md`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

MODEL_NAMES = ("omni", "detector")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "float16", "bfloat16")


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the variable and what it accepts."""


@dataclass(frozen=True)
class WorkerConfig:
    port: int = 8000
    omni_model: str = "Qwen/Qwen2.5-Omni-3B"
    vl_base_model: str = "Qwen/Qwen3-VL-8B-Instruct"
    vl_lora_adapter: str = "takumi123xxx/pdfme-form-field-detector-lora"
    use_4bit: bool = True
    enabled_models: tuple[str, ...] = MODEL_NAMES
    device: str = "auto"
    dtype: str = "auto"
    hf_home: str | None = None
    hf_hub_offline: bool = False
    # Queue and time limits (per model: one inference runs, `queue_size` more may wait).
    queue_size: int = 4
    request_timeout_s: float = 300.0
    body_timeout_s: float = 30.0  # a client that stops sending its body gets 400 after this long, not a hang
    retry_after_s: int = 10
    # Upload limits (the contract's defaults).
    max_audio_bytes: int = 25 * 1024 * 1024
    max_audio_seconds: float = 120.0
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_json_bytes: int = 1024 * 1024
    max_prompt_chars: int = 32_000
    # Omni generation.
    omni_speech: bool = True
    omni_speaker: str = "Chelsie"
    omni_transcript: bool = True
    omni_max_new_tokens: int = 512
    omni_talker_max_new_tokens: int = 8192
    omni_speech_window_s: float = 10.0  # seconds of speech per Token2Wav window: bounds its memory
    # Detector generation.
    detector_max_new_tokens: int = 2048
    detector_max_side: int = 1024
    # Loading: GPU memory left free for others (Ollama), and retries of loads that failed for a transient reason.
    gpu_reserve_gib: float = 0.0
    load_retries: int = 5
    load_retry_s: float = 10.0
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def max_request_bytes(self) -> int:
        """The largest body any route accepts (an audio or image upload, base64 inflating by 4/3)."""
        return max(self.max_audio_bytes, self.max_image_bytes * 4 // 3 + 4096, self.max_json_bytes) + 65536

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerConfig:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        enabled = tuple(
            name.strip() for name in reader.text("ENABLED_MODELS", "omni,detector").split(",") if name.strip()
        )
        unknown = [name for name in enabled if name not in MODEL_NAMES]
        if unknown:
            raise ConfigError(
                f"ENABLED_MODELS has unknown model(s) {', '.join(unknown)}; use a comma-separated subset of "
                f"{', '.join(MODEL_NAMES)} (or an empty value for none)"
            )
        port_default = reader.integer("PORT", 8000, low=1, high=65535)
        return cls(
            # Vertex AI tells the container its port in AIP_HTTP_PORT.
            port=reader.integer("AIP_HTTP_PORT", port_default, low=1, high=65535),
            omni_model=reader.text("OMNI_MODEL", cls.omni_model, required=True),
            vl_base_model=reader.text("VL_BASE_MODEL", cls.vl_base_model, required=True),
            # Empty or `none`: no adapter (`none` survives platforms that drop empty variables, e.g. Vertex AI).
            vl_lora_adapter=_no_adapter(reader.text("VL_LORA_ADAPTER", cls.vl_lora_adapter)),
            use_4bit=reader.boolean("USE_4BIT", True),
            enabled_models=enabled,
            device=reader.choice("DEVICE", "auto", DEVICES),
            dtype=reader.choice("DTYPE", "auto", DTYPES),
            hf_home=reader.text("HF_HOME", "") or None,
            hf_hub_offline=reader.boolean("HF_HUB_OFFLINE", False),
            queue_size=reader.integer("QUEUE_SIZE", cls.queue_size, low=0, high=1000),
            request_timeout_s=reader.number("REQUEST_TIMEOUT_S", cls.request_timeout_s, low=1),
            body_timeout_s=reader.number("BODY_TIMEOUT_S", cls.body_timeout_s, low=0.1),
            retry_after_s=reader.integer("RETRY_AFTER_S", cls.retry_after_s, low=1, high=3600),
            max_audio_bytes=reader.megabytes("MAX_AUDIO_MB", 25),
            max_audio_seconds=reader.number("MAX_AUDIO_SECONDS", cls.max_audio_seconds, low=1),
            max_image_bytes=reader.megabytes("MAX_IMAGE_MB", 20),
            max_image_pixels=reader.integer("MAX_IMAGE_PIXELS", cls.max_image_pixels, low=1),
            max_json_bytes=reader.megabytes("MAX_JSON_MB", 1),
            max_prompt_chars=reader.integer("MAX_PROMPT_CHARS", cls.max_prompt_chars, low=1),
            omni_speech=reader.boolean("OMNI_SPEECH", True),
            omni_speaker=reader.text("OMNI_SPEAKER", cls.omni_speaker, required=True),
            omni_transcript=reader.boolean("OMNI_TRANSCRIPT", True),
            omni_max_new_tokens=reader.integer("OMNI_MAX_NEW_TOKENS", cls.omni_max_new_tokens, low=1, high=8192),
            omni_talker_max_new_tokens=reader.integer(
                "OMNI_TALKER_MAX_NEW_TOKENS", cls.omni_talker_max_new_tokens, low=1, high=65536
            ),
            omni_speech_window_s=reader.number("OMNI_SPEECH_WINDOW_S", cls.omni_speech_window_s, low=1),
            detector_max_new_tokens=reader.integer(
                "DETECTOR_MAX_NEW_TOKENS", cls.detector_max_new_tokens, low=1, high=8192
            ),
            detector_max_side=reader.integer("DETECTOR_MAX_SIDE", cls.detector_max_side, low=64, high=8192),
            gpu_reserve_gib=reader.number("GPU_RESERVE_GIB", cls.gpu_reserve_gib, low=0),
            load_retries=reader.integer("LOAD_RETRIES", cls.load_retries, low=0, high=1000),
            load_retry_s=reader.number("LOAD_RETRY_S", cls.load_retry_s, low=0.1),
            extra={k: v for k, v in env.items() if k.startswith("AIP_")},
        )

    def describe(self) -> str:
        """One log line with every setting (no secrets live here)."""
        return ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "extra")


class _Reader:
    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str, required: bool = False) -> str:
        value = self.env.get(name)
        value = default if value is None else value.strip()
        if required and not value:
            raise ConfigError(f"{name} must not be empty (a Hugging Face model id or a local directory)")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")

    def integer(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer") from None
        self._check_range(name, value, low, high)
        return value

    def number(self, name: str, default: float, low: float | None = None) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        self._check_range(name, value, low, None)
        return value

    def megabytes(self, name: str, default_mb: float) -> int:
        return int(self.number(name, default_mb, low=0.001) * 1024 * 1024)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.lower()
        if value not in choices and not (name == "DEVICE" and value.startswith("cuda:")):
            raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
        return value

    @staticmethod
    def _check_range(name, value, low, high) -> None:
        if low is not None and value < low:
            raise ConfigError(f"{name}={value} is below the minimum {low}")
        if high is not None and value > high:
            raise ConfigError(f"{name}={value} is above the maximum {high}")


def _no_adapter(value: str) -> str:
    return "" if value.lower() == "none" else value
