"""Start real service processes (gunicorn, node, ...) for service and end-to-end tests.

Every process runs in its own process group, its output goes to a log file that is printed
when it fails to start, and it is stopped (TERM, then KILL) when the test scope ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """A running service: its base URL, process and log file."""

    url: str
    port: int
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _stop(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)


def wait_http(url: str, timeout_s: float, process: subprocess.Popen | None = None, ok=(200,)) -> None:
    """Poll `url` until it answers with a status in `ok`; fail early if `process` exits."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code in ok:
                return
            last_error = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s ({last_error})")


@contextlib.contextmanager
def run_service(
    argv: Sequence[str],
    *,
    cwd: Path,
    port: int,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    health_path: str = "/healthz",
    health_ok: Sequence[int] = (200,),
    start_timeout_s: float = 60.0,
) -> Iterator[Service]:
    """Run `argv` in `cwd` with `env` added to the environment; yield once `health_path` answers."""
    full_env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    full_env.update(env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            list(argv), cwd=cwd, env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    service = Service(url=url, port=port, process=process, log_path=log_path)
    try:
        try:
            wait_http(url + health_path, start_timeout_s, process, ok=tuple(health_ok))
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{argv[0]} failed to start: {exc}\n--- log ---\n{service.log()}") from exc
        yield service
    finally:
        _stop(process)


def dockerfile_cmd(dockerfile: Path) -> list[str]:
    """The exec-form CMD of a Dockerfile, so tests start a service exactly as its image does."""
    import json

    cmd: list[str] | None = None
    for line in dockerfile.read_text().splitlines():
        if line.strip().startswith("CMD "):
            cmd = json.loads(line.strip()[4:])
    if not cmd:
        raise ValueError(f"{dockerfile} has no exec-form CMD")
    return cmd
