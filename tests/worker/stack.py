"""Start the real model-worker for other tests: `model_worker_service(checkpoints, env=None, log_dir=...)`.

    from tests.worker.tiny_models import build_tiny_checkpoints
    from tests.worker.stack import model_worker_service

    checkpoints = build_tiny_checkpoints(tmp_path / "tiny")          # once per session
    with model_worker_service(checkpoints, log_dir=ARTIFACTS) as worker:
        requests.post(worker.url + "/detect", ...)                     # worker.url, worker.port, worker.log()

It runs the Dockerfile's CMD (gunicorn, one process, threads) from model-worker/ on a free port, pointed at the tiny
checkpoints on CPU, and yields once /readyz is 200 (both enabled models loaded). `env` adds or overrides variables
(e.g. {"ENABLED_MODELS": "detector"}); generation is kept short so browser tests stay fast. `wait_ready=False`
yields as soon as /healthz answers, for a worker whose models are meant to stay loading or to fail.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.support.procs import REPO_ROOT, Service, dockerfile_cmd, free_port, run_service
from tests.worker.tiny_models import worker_env

WORKER_DIR = REPO_ROOT / "model-worker"
DEFAULT_LOG_DIR = REPO_ROOT / "test-artifacts" / "worker"
FAST_GENERATION = {"OMNI_MAX_NEW_TOKENS": "12", "OMNI_TALKER_MAX_NEW_TOKENS": "24", "DETECTOR_MAX_NEW_TOKENS": "80"}


@contextlib.contextmanager
def model_worker_service(
    checkpoints: Mapping[str, Path],
    env: Mapping[str, str] | None = None,
    log_dir: Path = DEFAULT_LOG_DIR,
    name: str = "model-worker",
    start_timeout_s: float = 180.0,
    wait_ready: bool = True,
) -> Iterator[Service]:
    port = free_port()
    full_env = {
        **worker_env(dict(checkpoints), **FAST_GENERATION),
        "PORT": str(port),
        "GUNICORN_THREADS": "8",
        "HOME": str(Path(log_dir) / "home"),  # nothing written to the real home
        **(env or {}),
    }
    with run_service(
        dockerfile_cmd(WORKER_DIR / "Dockerfile"), cwd=WORKER_DIR, port=port,
        log_path=Path(log_dir) / f"{name}-{port}.log", env=full_env,
        health_path="/readyz" if wait_ready else "/healthz",
        start_timeout_s=start_timeout_s,
    ) as service:
        yield service


def wait_for_log(service: Service, text: str, timeout_s: float = 10.0) -> bool:
    """True once `text` appears in the service's log (access lines are written just after the response)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in service.log():
            return True
        time.sleep(0.1)
    return text in service.log()


@contextlib.contextmanager
def modelless_worker_service(root: Path, name: str) -> Iterator[Service]:
    """The worker under gunicorn with ENABLED_MODELS empty (its server, routes and errors, no model loads): for
    tests of the HTTP layer. The checkpoint paths under `root` are never read."""
    nothing = {"omni": root, "vl": root, "lora": root}
    with model_worker_service(nothing, env={"ENABLED_MODELS": ""}, name=name, wait_ready=False) as service:
        yield service
