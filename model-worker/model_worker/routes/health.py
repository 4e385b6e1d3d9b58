"""Liveness (`/healthz`, answers while models load) and readiness (`/readyz`, the truth about each model)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas import HealthResponse
from ..services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(HealthResponse(status="ok"))


@bp.get("/readyz")
def readyz():
    body, ready = services().readiness()
    return jsonify(body), 200 if ready else 503
