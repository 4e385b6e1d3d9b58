"""A real OpenAI-compatible backend with a real model: llama.cpp's server (`xllamacpp`) serving SmolLM2-135M-Instruct,
started as `make run` starts it (native/llamacpp_server.py). The model file is cached in .cache/models."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER = REPO_ROOT / "native" / "llamacpp_server.py"
ARTIFACTS = REPO_ROOT / "test-artifacts"
START_TIMEOUT_S = 120.0
MODEL = "smollm2"


@contextmanager
def llamacpp_server(name: str = "llamacpp", api_key_file: Path | None = None, parallel: int = 2) -> Iterator[str]:
    """Yields the server's OpenAI base URL (`http://127.0.0.1:<port>/v1`); the model is `smollm2`."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{name}.log"
    argv = [sys.executable, "-u", str(SERVER), "--parallel", str(parallel), "--ctx", str(2048 * parallel)]
    if api_key_file is not None:
        argv += ["--api-key-file", str(api_key_file)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while time.monotonic() < deadline and not line.startswith(b"listening on "):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"llama.cpp's server exited ({process.returncode}); see {log_path}")
        if not line.startswith(b"listening on "):
            raise RuntimeError(f"llama.cpp's server did not start within {START_TIMEOUT_S:g} s; see {log_path}")
        yield line.decode().removeprefix("listening on ").strip() + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
