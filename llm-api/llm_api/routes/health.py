"""`GET /healthz` (the process serves) and `GET /readyz` (Ollama, the worker, the database and each
OpenAI-compatible backend). The stack is `unavailable` when its database is down, or when no chat backend it needs
answers (Ollama when it is on; otherwise every configured backend); an optional external backend that is down, like
the worker, only makes it `degraded`."""

from __future__ import annotations

import time

from flask import Blueprint, g, jsonify

from ..catalog import discover_all
from ..config import PROBE_TIMEOUT_S
from ..errors import ApiError
from ..schemas import Check, HealthResponse, ReadyResponse
from ..services import services
from ..store import StoreError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(HealthResponse(status="ok"))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def _check_ollama(request_id: str) -> Check:
    start = time.perf_counter()
    ollama = services().ollama
    if ollama is None:
        return {"status": "off", "latency_ms": 0.0}
    try:
        version = ollama.version(request_id, PROBE_TIMEOUT_S)
    except ApiError as err:
        return {"status": "down", "error": err.message, "latency_ms": _ms(start)}
    return {"status": "up", "version": version, "latency_ms": _ms(start)}


WORKER_MODEL_DETAILS = ("device", "dtype", "memory_bytes", "error")


def _check_worker(request_id: str) -> Check:
    start = time.perf_counter()
    try:
        status, body = services().worker.readyz(request_id, PROBE_TIMEOUT_S)
    except ApiError as err:
        return {"status": "down", "error": err.message, "latency_ms": _ms(start)}
    models = body.get("models") if isinstance(body.get("models"), dict) else {}
    entries = {name: m for name, m in models.items() if isinstance(m, dict)}
    states = {name: m.get("state") for name, m in entries.items()}
    # What each model holds, as the worker measured it, and why one is not ready (the fix a person needs).
    details = {name: {key: m.get(key) for key in WORKER_MODEL_DETAILS} for name, m in entries.items()}
    if status == 200:
        return {"status": "up", "models": states, "details": details, "latency_ms": _ms(start)}
    loading = any(state == "loading" for state in states.values())
    return {"status": "loading" if loading else "down", "models": states, "details": details,
            "latency_ms": _ms(start), "error": f"model-worker /readyz answered HTTP {status}"}


def _check_database() -> Check:
    start = time.perf_counter()
    try:
        services().store.ping()
    except StoreError as exc:
        return {"status": "down", "error": str(exc), "latency_ms": _ms(start)}
    return {"status": "up", "latency_ms": _ms(start)}


def _check_backends(request_id: str) -> dict[str, Check]:
    """Each backend's model discovery (cached, bounded: see catalog.discover_all), as a check."""
    backends = list(services().chat.openai.values())
    checks: dict[str, Check] = {}
    for backend, found in zip(backends, discover_all(backends, request_id), strict=True):
        if found.error:
            checks[backend.name] = {"status": "down", "error": found.error, "latency_ms": 0.0}
        else:
            checks[backend.name] = {"status": "up", "models": dict.fromkeys(found.models, "ready"),
                                    "latency_ms": 0.0}
    return checks


@bp.get("/readyz")
def readyz():
    request_id = g.request_id
    backends = _check_backends(request_id)
    checks = {"ollama": _check_ollama(request_id), "worker": _check_worker(request_id),
              "database": _check_database(), "backends": backends}
    ollama = checks["ollama"]["status"]
    chat_down = ollama == "down" or (ollama == "off" and not any(c["status"] == "up" for c in backends.values()))
    if chat_down or checks["database"]["status"] != "up":
        status, code = "unavailable", 503
    elif checks["worker"]["status"] != "up" or any(c["status"] != "up" for c in backends.values()):
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return jsonify(ReadyResponse(status=status, checks=checks)), code
