"""Reusable context managers that start the Ollama double and the REAL llm-api, for any engineer's tests.

    from tests.doubles.stack import llm_api_service, ollama_double

    with ollama_double(token_delay_s=0.01) as ollama, llm_api_service(ollama.url, "http://127.0.0.1:9", db) as api:
        requests.post(api.url + "/ask-llm", json={"prompt": "hi"})
        ollama.set(fail_status=500)   # change the double's behaviour at run time
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.doubles.ollama_double import DEFAULT_MODELS, OllamaDouble
from tests.support.procs import REPO_ROOT, Service, dockerfile_cmd, free_port, run_service

LLM_API_DIR = REPO_ROOT / "llm-api"
ARTIFACTS = REPO_ROOT / "test-artifacts"


@contextlib.contextmanager
def ollama_double(models: tuple[str, ...] = DEFAULT_MODELS, **knobs: Any) -> Iterator[OllamaDouble]:
    """An in-process Ollama double on a free port. The yielded object has `.url`, `.set(**knobs)`, `.reset()`,
    `.state()`, `.chat_requests()` (the bodies Ollama received) and `.counters` (chat_started, chat_completed,
    chat_aborted, pulls). Knobs: token_delay_s, load_delay_s, stall_after_tokens, error_after_tokens,
    fail_status, pull_delay_s (see tests/doubles/ollama_double.py)."""
    with OllamaDouble(models=models, **knobs) as double:
        yield double


@contextlib.contextmanager
def llm_api_service(ollama_url: str, worker_url: str, db_path: str | os.PathLike[str],
                    env: Mapping[str, str] | None = None,
                    log_dir: Path = ARTIFACTS / "llm-api") -> Iterator[Service]:
    """The real llm-api, started with its Dockerfile's CMD (gunicorn) from `llm-api/` on a free port.

    `env` adds or overrides variables (e.g. API_KEY, UPSTREAM_TIMEOUT_S, CORS_ORIGINS, WEB_CONCURRENCY).
    Yields a `tests.support.procs.Service` (`.url`, `.port`, `.log()`); the process is stopped on exit."""
    port = free_port()
    full_env = {"PORT": str(port), "OLLAMA_URL": ollama_url, "WORKER_URL": worker_url,
                "DATABASE_PATH": str(db_path), "WEB_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1",
                "REALTIME_URL": "none", **(env or {})}
    full_env["PORT"] = str(port)
    with run_service(dockerfile_cmd(LLM_API_DIR / "Dockerfile"), cwd=LLM_API_DIR, port=port,
                     log_path=Path(log_dir) / f"llm-api-{port}.log", env=full_env) as service:
        yield service
