"""Fixtures shared by the test folders: the real llama.cpp server with SmolLM2 (started once, on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.llamacpp import llamacpp_server


@pytest.fixture(scope="session")
def llamacpp_url() -> Iterator[str]:
    """A real OpenAI-compatible server with a real model (`smollm2`): its base URL, ending in /v1."""
    with llamacpp_server() as url:
        yield url
