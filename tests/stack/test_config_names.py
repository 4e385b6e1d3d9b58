"""Every variable compose.yaml gives a service is one that service really reads (no silently ignored settings)."""

from __future__ import annotations

import re

import pytest

from tests.stack.compose_cli import resolved
from tests.support.procs import REPO_ROOT

# Read by libraries inside the image rather than by the service's own config module.
LIBRARY_VARIABLES = {
    "model-worker": {"HF_TOKEN", "HF_HUB_OFFLINE", "HF_HOME"},
    "llm-api": {"WEB_CONCURRENCY"},  # gunicorn.conf.py
    "web": {"PORT"},  # Next.js standalone server.js
}
SOURCES = {
    "llm-api": ["llm-api/llm_api/config.py", "llm-api/gunicorn.conf.py"],
    "model-worker": ["model-worker/model_worker/config.py", "model-worker/gunicorn.conf.py"],
    "web": ["web/src/lib/settings.ts", "web/src/lib/proxy.ts", "web/src/app/api/[...path]/route.ts"],
}


def _names_in_source(service: str) -> set[str]:
    text = "\n".join((REPO_ROOT / path).read_text() for path in SOURCES[service])
    with_underscore = re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text)
    quoted = re.findall(r"[\"'.]([A-Z][A-Z0-9_]+)\b", text)  # "DEVICE", env.PORT
    return set(with_underscore) | set(quoted)


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_compose_environment_is_read_by_the_service(service):
    environment = set(resolved("compose.yaml")["services"][service]["environment"])
    unread = environment - _names_in_source(service) - LIBRARY_VARIABLES[service]
    assert unread == set(), f"compose.yaml sets variables that {service} never reads"


def test_contract_variables_are_all_wired():
    """The contract's configuration names reach each service from compose.yaml."""
    model = resolved("compose.yaml")["services"]
    assert {"PORT", "OLLAMA_URL", "WORKER_URL", "LLM_DEFAULT_MODEL", "CORS_ORIGINS", "API_KEY", "DATABASE_PATH",
            "UPSTREAM_TIMEOUT_S", "MAX_UPLOAD_MB"} <= set(model["llm-api"]["environment"])
    assert {"PORT", "OMNI_MODEL", "VL_BASE_MODEL", "VL_LORA_ADAPTER", "USE_4BIT", "ENABLED_MODELS", "DEVICE",
            "HF_HOME"} <= set(model["model-worker"]["environment"])
    assert {"PORT", "LLM_API_URL"} <= set(model["web"]["environment"])
