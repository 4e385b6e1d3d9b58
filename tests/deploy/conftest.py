"""Fixtures of the cloud deploy tests: the real model-worker (gunicorn, as the image runs it) on the tiny
checkpoints, serving every contract route the tool's endpoints call, started once for the session on first use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.procs import Service


@pytest.fixture(scope="session")
def real_worker(tmp_path_factory) -> Iterator[Service]:
    """Both models loaded; Vertex AI's routes at the paths the tool uploads (as Vertex AI sets AIP_* variables)."""
    # imported here: tiny_models imports torch, which the Helm tests beside these never need
    from deploy.clouds import vertex
    from tests.worker.stack import model_worker_service
    from tests.worker.tiny_models import build_tiny_checkpoints

    checkpoints = build_tiny_checkpoints(tmp_path_factory.mktemp("deploy-tiny-checkpoints"))
    env = {
        "ENABLED_MODELS": "omni,detector",
        "AIP_PREDICT_ROUTE": vertex.PREDICT_ROUTE,
        "AIP_HEALTH_ROUTE": vertex.HEALTH_ROUTE,
    }
    with model_worker_service(checkpoints, env=env, name="deploy-worker") as service:
        yield service
