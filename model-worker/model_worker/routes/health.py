"""Liveness (`/healthz`, answers while models load) and readiness (`/readyz`, the truth about each model)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..app import slots

bp = Blueprint("health", __name__)


def readiness():
    models = {key: slot.info() for key, slot in slots().items()}
    enabled = [slot for slot in slots().values() if slot.enabled]
    ready = all(slot.state == "ready" for slot in enabled)
    return {"models": models}, ready


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    body, ready = readiness()
    return jsonify(body), 200 if ready else 503
