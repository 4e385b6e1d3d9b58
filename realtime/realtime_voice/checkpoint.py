"""Where the checkpoint's files are, and `moshi`'s own `CheckpointInfo` for them.

Two layouts, both read by `moshi.models.loaders` (moshi 0.2.13):
- J-Moshi's repositories (`nu-dialogue/j-moshi`, `nu-dialogue/j-moshi-ext`): no `config.json`, three files under
  the names `moshi` has always used; the LM is the Moshi 7B architecture (`loaders._lm_kwargs`). This is what
  `CheckpointInfo.from_hf_repo` does for such a "legacy" repository.
- Kyutai's newer repositories: a `config.json` with the LM's settings and the file names.

A repository is fetched whole with `huggingface_hub.snapshot_download` (only the weight, tokenizer and config
files) into the Hugging Face cache (`HF_HOME`, the `hf-cache` volume), so a restart, or `HF_HUB_OFFLINE=1`, reads
the same files without the network.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import Config

LEGACY_MOSHI = "model.safetensors"
LEGACY_MIMI = "tokenizer-e351c8d8-checkpoint125.safetensors"
LEGACY_TOKENIZER = "tokenizer_spm_32k_3.model"
SNAPSHOT_PATTERNS = ["*.safetensors", "*.model", "*.json"]


class CheckpointError(RuntimeError):
    """The checkpoint cannot be found or read; the message says what is missing."""


def checkpoint_dir(config: Config) -> Path:
    """The local directory of the checkpoint: `MOSHI_MODEL_DIR`, or the cached snapshot of `MOSHI_REPO`."""
    if config.moshi_model_dir:
        return Path(config.moshi_model_dir)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(config.moshi_repo, revision=config.moshi_revision,
                                      allow_patterns=SNAPSHOT_PATTERNS, local_files_only=config.hf_hub_offline))
    except LocalEntryNotFoundError:
        raise CheckpointError(f"{config.moshi_repo} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: "
                              "start once with HF_HUB_OFFLINE=0 to download it") from None


def _file(directory: Path, name: str, what: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise CheckpointError(f"the checkpoint at {directory} has no {what} file {name}")
    return path


def _mimi_override(config: Config, default: Path) -> Path:
    if not config.mimi_weights:
        return default
    if config.mimi_weights.startswith("hf://"):
        from moshi.models.loaders import hf_get

        return hf_get(config.mimi_weights)
    return _file(Path(config.mimi_weights).parent, Path(config.mimi_weights).name, "Mimi weights")


def checkpoint_info(config: Config, directory: Path):
    """`moshi`'s `CheckpointInfo` for the files in `directory` (either layout)."""
    from moshi.models.loaders import CheckpointInfo

    config_path = directory / "config.json"
    if not config_path.is_file():  # J-Moshi: the Moshi 7B architecture, moshi's default names
        return CheckpointInfo(moshi_weights=_file(directory, LEGACY_MOSHI, "Moshi weights"),
                              mimi_weights=_mimi_override(config, _file(directory, LEGACY_MIMI, "Mimi weights")),
                              tokenizer=_file(directory, LEGACY_TOKENIZER, "text tokenizer"))
    try:
        raw = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{config_path} cannot be read: {exc}") from None
    mimi_config = raw.get("mimi_config_name")
    return CheckpointInfo.from_hf_repo(
        str(directory),
        moshi_weights=_file(directory, raw.get("moshi_name", LEGACY_MOSHI), "Moshi weights"),
        mimi_weights=_mimi_override(config, _file(directory, raw.get("mimi_name", LEGACY_MIMI), "Mimi weights")),
        tokenizer=_file(directory, raw.get("tokenizer_name", LEGACY_TOKENIZER), "text tokenizer"),
        config_path=config_path,
        mimi_config_path=None if mimi_config is None else _file(directory, mimi_config, "Mimi config"),
    )
