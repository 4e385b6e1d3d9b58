"""Fixtures: tiny checkpoints built once per session, and a worker app loaded on them."""

from __future__ import annotations

import pytest

from model_worker.app import create_app
from model_worker.config import WorkerConfig
from tests.worker.tiny_models import build_tiny_checkpoints, worker_env

# Short generations keep the suite fast; the code paths are the same as with the real defaults.
FAST_GENERATION = {
    "OMNI_MAX_NEW_TOKENS": "8",
    "OMNI_TALKER_MAX_NEW_TOKENS": "24",
    "DETECTOR_MAX_NEW_TOKENS": "80",
}


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    return build_tiny_checkpoints(tmp_path_factory.mktemp("tiny-checkpoints"))


@pytest.fixture(scope="session")
def tiny_env(tiny_checkpoints):
    return worker_env(tiny_checkpoints, **FAST_GENERATION)


def make_config(env: dict, **overrides: str) -> WorkerConfig:
    return WorkerConfig.from_env({**env, **overrides})


@pytest.fixture(scope="session")
def loaded_app(tiny_env):
    """The real app with both tiny models loaded (shared by the tests that only read from it)."""
    app = create_app(make_config(tiny_env))
    for slot in app.extensions["model_slots"].values():
        assert slot.wait_loaded(120), f"{slot.key} did not load"
        assert slot.state == "ready", slot.info()
    return app


@pytest.fixture
def client(loaded_app):
    return loaded_app.test_client()
