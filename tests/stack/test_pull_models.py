"""ollama/pull-models.sh (the ollama-init service) against the Ollama double: pulls once, never twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.doubles.stack import ollama_double
from tests.support.procs import REPO_ROOT, free_port

SCRIPT = REPO_ROOT / "ollama" / "pull-models.sh"
DEFAULT = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"


@pytest.fixture
def cli_dir(tmp_path) -> Path:
    """A PATH folder whose `ollama` runs the client shim (the real CLI is a Go binary inside the image)."""
    shim = tmp_path / "ollama"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.stack.ollama_cli_shim "$@"\n')
    shim.chmod(0o755)
    return tmp_path


def run_script(cli_dir: Path, host: str, models: str, wait_s: int = 20) -> subprocess.CompletedProcess:
    env = {"PATH": f"{cli_dir}:/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "OLLAMA_HOST": host,
           "OLLAMA_PULL_MODELS": models, "OLLAMA_WAIT_S": str(wait_s)}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)


def test_pulls_missing_models_once_then_never_again(cli_dir):
    with ollama_double(models=(DEFAULT,)) as ollama:
        first = run_script(cli_dir, ollama.url, f"{DEFAULT}, qwen2.5:0.5b")
        assert first.returncode == 0, first.stderr
        assert f"{DEFAULT} is already in the volume" in first.stdout
        assert "pulling qwen2.5:0.5b" in first.stdout
        assert ollama.counters["pulls"] == 1

        second = run_script(cli_dir, ollama.url, f"{DEFAULT},qwen2.5:0.5b")
        assert second.returncode == 0, second.stderr
        assert "qwen2.5:0.5b is already in the volume" in second.stdout
        assert ollama.counters["pulls"] == 1, "a present model was pulled again"


def test_a_failed_pull_fails_the_init_service(cli_dir):
    with ollama_double(models=(DEFAULT,)) as ollama:
        result = run_script(cli_dir, ollama.url, f"{DEFAULT},missing/model:1b")
    assert result.returncode == 1
    assert "could not pull missing/model:1b" in result.stderr


def test_nothing_configured_is_a_no_op(cli_dir):
    result = run_script(cli_dir, "http://127.0.0.1:9", " , ")
    assert result.returncode == 0
    assert "nothing to pull" in result.stdout


def test_unreachable_server_is_reported(cli_dir):
    result = run_script(cli_dir, f"http://127.0.0.1:{free_port()}", DEFAULT, wait_s=2)
    assert result.returncode == 1
    assert "did not answer" in result.stderr
