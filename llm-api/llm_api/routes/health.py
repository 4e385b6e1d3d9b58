"""`GET /healthz` (the process serves) and `GET /readyz` (Ollama, the worker and the database)."""

from __future__ import annotations

import sqlite3
import time

from flask import Blueprint, g, jsonify

from ..config import PROBE_TIMEOUT_S
from ..errors import ApiError
from ..schemas import Check, HealthResponse, ReadyResponse
from ..services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(HealthResponse(status="ok"))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def _check_ollama(request_id: str) -> Check:
    start = time.perf_counter()
    try:
        version = services().ollama.version(request_id, PROBE_TIMEOUT_S)
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
    except sqlite3.Error as exc:
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}", "latency_ms": _ms(start)}
    return {"status": "up", "latency_ms": _ms(start)}


@bp.get("/readyz")
def readyz():
    checks = {"ollama": _check_ollama(g.request_id), "worker": _check_worker(g.request_id),
              "database": _check_database()}
    if checks["ollama"]["status"] != "up" or checks["database"]["status"] != "up":
        status, code = "unavailable", 503
    elif checks["worker"]["status"] != "up":
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return jsonify(ReadyResponse(status=status, checks=checks)), code
