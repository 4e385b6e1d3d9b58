"""Every service's Dockerfile passes hadolint and follows the stack's image rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import REPO_ROOT, dockerfile_cmd

HADOLINT = Path(sys.executable).with_name("hadolint")
SERVICES = ("llm-api", "model-worker", "realtime", "web")


def hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", "--no-color", str(path)],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_clean(service):
    result = hadolint(REPO_ROOT / service / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_problems(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\nCMD python app.py\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the :latest tag


@pytest.mark.parametrize("service", SERVICES)
def test_image_rules(service):
    text = (REPO_ROOT / service / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0", "0:0"), "the final stage must run as a non-root user"
    assert re.search(r"^HEALTHCHECK\s", text, flags=re.MULTILINE), "no HEALTHCHECK"
    assert dockerfile_cmd(REPO_ROOT / service / "Dockerfile"), "CMD must be exec form"
    assert (REPO_ROOT / service / ".dockerignore").is_file()
    assert not re.search(r"(?i)(api_key|token|password)\s*=\s*\S+", text), "no secrets in images"


def test_the_image_and_the_tests_install_the_same_moshi():
    image = re.search(r"--no-deps moshi==(\S+)", (REPO_ROOT / "realtime" / "Dockerfile").read_text())
    tests = re.search(r"^MOSHI_VERSION := (\S+)$", (REPO_ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert image and tests and image.group(1) == tests.group(1)


def test_the_worker_image_answers_sagemakers_serve_with_its_own_server():
    """SageMaker starts the container as `docker run <image> serve` (deploy/clouds/sagemaker.py)."""
    dockerfile = (REPO_ROOT / "model-worker" / "Dockerfile").read_text()
    assert re.search(r"^COPY --chmod=755 serve /usr/local/bin/serve$", dockerfile, flags=re.MULTILINE)
    script = (REPO_ROOT / "model-worker" / "serve").read_text()
    assert script.splitlines()[-1] == "exec " + " ".join(dockerfile_cmd(REPO_ROOT / "model-worker" / "Dockerfile"))
    result = subprocess.run([str(Path(sys.executable).with_name("shellcheck")), "model-worker/serve"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_pull_script_passes_shellcheck():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("shellcheck")), "--shell=sh", "ollama/pull-models.sh"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout
