"""Start the real real-time voice service for other tests: `realtime_service(log_name, env=None)`.

    from tests.realtime.stack import realtime_service

    with realtime_service("talk-e2e") as realtime:       # realtime.url, realtime.port, realtime.log()
        ...  # llm-api with REALTIME_URL=realtime.url

It runs the Dockerfile's CMD (`python -m realtime_voice`) from realtime/ on a free port, on CPU in float32, with the
tiny random Moshi checkpoint (tests/realtime/tiny_moshi.py, built once into .cache/models/tiny-moshi), and yields
once /readyz is 200. `env` adds or overrides variables (e.g. {"MAX_CONVERSATIONS": "2", "IDLE_TIMEOUT_S": "2"}).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

from tests.support.procs import REPO_ROOT, Service, dockerfile_cmd, free_port, run_service

from .tiny_moshi import build_tiny_moshi

REALTIME_DIR = REPO_ROOT / "realtime"
TINY_DIR = REPO_ROOT / ".cache" / "models" / "tiny-moshi"
DEFAULT_LOG_DIR = REPO_ROOT / "test-artifacts" / "realtime"


def tiny_env(model_dir: Path | None = None) -> dict[str, str]:
    return {"MOSHI_MODEL_DIR": str(model_dir or build_tiny_moshi(TINY_DIR)), "DEVICE": "cpu", "DTYPE": "float32",
            "HF_HUB_OFFLINE": "1", "SEED": "7", "OMP_NUM_THREADS": "1"}


@contextlib.contextmanager
def realtime_service(log_name: str = "realtime", env: Mapping[str, str] | None = None,
                     log_dir: Path = DEFAULT_LOG_DIR, wait_ready: bool = True,
                     start_timeout_s: float = 120.0) -> Iterator[Service]:
    port = free_port()
    full_env = {**tiny_env(), "PORT": str(port), "HOST": "127.0.0.1", **(env or {})}
    log_dir.mkdir(parents=True, exist_ok=True)
    with run_service(dockerfile_cmd(REALTIME_DIR / "Dockerfile"), cwd=REALTIME_DIR, port=port,
                     log_path=log_dir / f"{log_name}-{port}.log", env=full_env,
                     start_timeout_s=start_timeout_s) as service:
        if wait_ready:
            wait_until_ready(service, start_timeout_s)
        yield service


def wait_until_ready(service: Service, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        body = requests.get(service.url + "/readyz", timeout=5).json()
        if body["status"] == "ready":
            return body
        if body["status"] == "error" or time.monotonic() > deadline:
            raise AssertionError(f"the realtime service did not become ready: {body}\n{service.log()[-3000:]}")
        time.sleep(0.2)
