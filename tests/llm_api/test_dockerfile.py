"""The llm-api image definition: lint clean, pinned, non-root, python healthcheck, gunicorn CMD."""

from __future__ import annotations

import re
import subprocess

from tests.doubles.stack import LLM_API_DIR
from tests.support.procs import VENV_BIN

DOCKERFILE = LLM_API_DIR / "Dockerfile"


def test_hadolint_passes_at_warning_level():
    result = subprocess.run([str(VENV_BIN / "hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_shape():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.12\.\d+-slim-bookworm$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "chown" in text and "/data" in text
    healthcheck = re.search(r"^HEALTHCHECK .*\n\s+CMD (.*)$", text, re.M)
    assert healthcheck and '"python"' in healthcheck.group(1) and "/healthz" in healthcheck.group(1)
    assert "curl" not in text and "wget" not in text
    lines = [line.split("#")[0].strip() for line in (LLM_API_DIR / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert requirements and all("==" in line for line in requirements)
    assert (LLM_API_DIR / ".dockerignore").exists()
