"""Fixtures shared by the test folders, each started once, on first use: the real llama.cpp server with SmolLM2,
and a real PostgreSQL server (`postgres_server`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.llamacpp import llamacpp_server
from tests.support.postgres import PostgresServer, find_initdb
from tests.support.postgres import postgres_server as start_postgres


@pytest.fixture(scope="session")
def llamacpp_url() -> Iterator[str]:
    """A real OpenAI-compatible server with a real model (`smollm2`): its base URL, ending in /v1."""
    with llamacpp_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL server (tests/support/postgres.py); `.create_database(name)` gives a fresh URL.
    Where PostgreSQL is not installed, its tests are skipped, except in CI (`.ci/run` installs it), where they fail."""
    if find_initdb() is None:
        message = "PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with start_postgres() as server:
        yield server
