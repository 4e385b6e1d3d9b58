"""Configuration in one place: every setting is a dataclass field with its default, its environment variable and its
meaning. The command line offers each as `--flag` (its help shows the variable and the default); a flag beats the
variable, the variable beats the default. Each cloud's settings class extends `CommonSettings`.
"""

from __future__ import annotations

import argparse
import os
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from deploy.errors import DeployError

T = TypeVar("T", bound="CommonSettings")


def setting(default: Any, env: str, help: str) -> Any:
    """A field of a settings class: its default, the environment variable read when no flag is given, its meaning."""
    return field(default=default, metadata={"env": env, "help": help})


# The detector's checkpoints per variant (model-worker/README.md, VL_BASE_MODEL / VL_LORA_ADAPTER). The published
# pdfme LoRA was trained on the 8B model; a 32B deployment serves the base model unless an adapter trained on 32B is
# named with --lora-adapter.
VARIANTS: dict[str, tuple[str, str]] = {
    "8b": ("Qwen/Qwen3-VL-8B-Instruct", "takumi123xxx/pdfme-form-field-detector-lora"),
    "32b": ("Qwen/Qwen3-VL-32B-Instruct", "none"),
}


@dataclass(frozen=True)
class CommonSettings:
    name: str = setting("form-detector", "DEPLOY_NAME", "name of the endpoint; its other resources derive from it")
    image: str = setting("", "DEPLOY_IMAGE", "the model-worker image in the cloud's registry (needed by create)")
    variant: str = setting("8b", "DEPLOY_VARIANT", "detector size: 8b or 32b (see deploy/README.md)")
    models: str = setting("detector", "ENABLED_MODELS", "worker models the endpoint loads (comma-separated)")
    base_model: str = setting("", "VL_BASE_MODEL", "detector base checkpoint (default: the variant's)")
    lora_adapter: str = setting("", "VL_LORA_ADAPTER", "detector LoRA (default: the variant's; none: no adapter)")
    use_4bit: bool = setting(True, "USE_4BIT", "load the detector in 4-bit (bitsandbytes nf4)")
    sample: str = setting("", "DEPLOY_SAMPLE", "file `test` sends (default: deploy/samples' form image or audio)")
    wait_timeout_s: int = setting(3600, "DEPLOY_WAIT_TIMEOUT_S", "seconds create waits for the endpoint to serve")

    def worker_environment(self) -> dict[str, str]:
        """The worker's variables on the endpoint: which models load, and from which checkpoints."""
        if self.variant not in VARIANTS:
            raise DeployError(f"--variant {self.variant!r} is unknown; use one of {', '.join(VARIANTS)}.")
        base, adapter = VARIANTS[self.variant]
        lora = self.lora_adapter or adapter
        return {
            "ENABLED_MODELS": self.models,
            "VL_BASE_MODEL": self.base_model or base,
            "VL_LORA_ADAPTER": lora,  # `none` (no adapter) as is: Google's APIs drop empty variables
            "USE_4BIT": "true" if self.use_4bit else "false",
        }

    def require_image(self, registry_hint: str) -> str:
        if not self.image:
            raise DeployError(f"No image to deploy: pass --image (or set DEPLOY_IMAGE) to {registry_hint}.")
        return self.image


def _kind(cls: type, name: str) -> type:
    hint = typing.get_type_hints(cls)[name]
    for candidate in (bool, int):
        if hint is candidate:
            return candidate
    return str


def _convert(kind: type, raw: str, source: str) -> Any:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise DeployError(f"{source}={raw!r} is not a boolean; use true or false.")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise DeployError(f"{source}={raw!r} is not an integer.") from None
    return raw.strip()


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type[CommonSettings]) -> None:
    for item in fields(cls):
        default = "(unset)" if item.default in ("", None, MISSING) else item.default
        parser.add_argument(
            flag(item.name), dest=item.name, default=None, metavar=item.name.upper(),
            help=f"{item.metadata['help']} [env {item.metadata['env']}; default {default}]",
        )


def resolve(cls: type[T], given: Mapping[str, str | None], environ: Mapping[str, str] | None = None) -> T:
    """The settings from flags (`given`), then the environment, then the defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in fields(cls):
        raw, source = given.get(item.name), flag(item.name)
        if raw is None:
            raw, source = env.get(item.metadata["env"]), item.metadata["env"]
        if raw is not None and raw.strip() != "":
            values[item.name] = _convert(_kind(cls, item.name), raw, source)
    return cls(**values)
