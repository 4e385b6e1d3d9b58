"""The processes `gateway_vs_litellm.py` measures: the Ollama double, llm-api trees under gunicorn (their Dockerfile
CMD), and the LiteLLM proxy from its own bench venv; plus the CPU time a process group has used so far.

Each service runs in its own session (process group), so its CPU is the sum over the group: gunicorn's master and
its workers, or LiteLLM's proxy and whatever it forks.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.procs import dockerfile_cmd, free_port, run_service  # noqa: E402

MODEL = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"
LITELLM_VENV = REPO_ROOT / ".bench" / "litellm-venv"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """A gateway (or Ollama itself): how to ask it for a chat, and its process group for CPU time."""

    name: str
    url: str
    kind: str  # "ollama" (/api/chat), "llm-api" (/ask-llm) or "openai" (/v1/chat/completions)
    pgid: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def group_cpu_s(pgid: int) -> float:
    """utime + stime (seconds) of every live process in the group, read from /proc/<pid>/stat."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ..., utime (12), stime (13)
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@contextlib.contextmanager
def ollama_double(log_dir: Path) -> Iterator[Target]:
    port = free_port()
    argv = [sys.executable, "-m", "tests.doubles.ollama_double", "--port", str(port), "--models", MODEL]
    with run_service(argv, cwd=REPO_ROOT, port=port, log_path=log_dir / "double.log",
                     health_path="/api/version") as service:
        yield Target("direct", service.url, "ollama", service.process.pid)


@contextlib.contextmanager
def llm_api(name: str, app_dir: Path, ollama_url: str, log_dir: Path, kind: str = "llm-api") -> Iterator[Target]:
    """The llm-api in `app_dir` (a checkout's `llm-api/`), started with that tree's Dockerfile CMD and defaults,
    asked on its own API (`kind` "llm-api") or on its OpenAI-compatible one ("openai")."""
    port = free_port()
    env = {"PORT": str(port), "OLLAMA_URL": ollama_url, "WORKER_URL": f"http://127.0.0.1:{free_port()}",
           "DATABASE_PATH": str(log_dir / f"{name}.sqlite3"), "PYTHONUNBUFFERED": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    with run_service(dockerfile_cmd(app_dir / "Dockerfile"), cwd=app_dir, port=port, env=env,
                     log_path=log_dir / f"{name}.log") as service:
        yield Target(name, service.url, kind, service.process.pid)


@contextlib.contextmanager
def litellm_proxy(ollama_url: str, log_dir: Path) -> Iterator[Target]:
    """LiteLLM's proxy (`litellm --config`), one model routed to the double as `ollama_chat/<model>`."""
    config = log_dir / "litellm.yaml"
    config.write_text(f"model_list:\n  - model_name: {MODEL}\n    litellm_params:\n"
                      f"      model: ollama_chat/{MODEL}\n      api_base: {ollama_url}\n"
                      "litellm_settings:\n  telemetry: false\n")
    port = free_port()
    argv = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port)]
    key = f"sk-bench-{secrets.token_hex(16)}"  # the proxy refuses to start without a master key
    env = {"LITELLM_MASTER_KEY": key, "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR", "NO_DOCKER": "1",
           "PATH": f"{LITELLM_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    with run_service(argv, cwd=log_dir, port=port, env=env, log_path=log_dir / "litellm.log",
                     health_path="/health/liveliness", start_timeout_s=180) as service:
        yield Target(f"LiteLLM {litellm_version()}", service.url, "openai", service.process.pid,
                     {"Authorization": f"Bearer {key}"})


def litellm_version() -> str:
    found = sorted(LITELLM_VENV.glob("lib/python*/site-packages/litellm-*.dist-info"))
    return found[-1].name.removeprefix("litellm-").removesuffix(".dist-info") if found else "?"


def baseline_tree(commit: str, dest: Path) -> Path:
    """`llm-api/` as it was at `commit`, exported with `git archive` (no worktree, no change to the repository)."""
    out = dest / f"llm-api-{commit}"
    if not (out / "llm-api" / "Dockerfile").exists():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", commit, "llm-api"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "llm-api"
