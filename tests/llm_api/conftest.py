"""Fixtures: one Ollama double for the whole run and real llm-api processes (gunicorn, Dockerfile CMD) in a few
configurations, each started on first use. The double's knobs are reset before every test that uses it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.doubles.ollama_double import OllamaDouble
from tests.doubles.stack import ARTIFACTS, llm_api_service, ollama_double
from tests.llm_api.history_db import ENGINES, HistoryDb
from tests.support.procs import Service, free_port

API_KEY = "test-key-123"
LOG_DIR = ARTIFACTS / "llm-api"


@pytest.fixture(scope="session")
def double_server() -> Iterator[OllamaDouble]:
    with ollama_double() as double:
        yield double


@pytest.fixture()
def ollama(double_server: OllamaDouble) -> Iterator[OllamaDouble]:
    double_server.reset()
    yield double_server
    double_server.reset()


@pytest.fixture(scope="session")
def closed_url() -> str:
    """A URL where nothing listens (connection refused): the worker in every test, Ollama in `api_down`."""
    return f"http://127.0.0.1:{free_port()}"


def _service(tmp_path_factory: pytest.TempPathFactory, name: str, ollama_url: str, worker_url: str,
             **env: str):
    db = tmp_path_factory.mktemp(name) / "llm-api.sqlite3"
    return llm_api_service(ollama_url, worker_url, db, env=env, log_dir=LOG_DIR)


@pytest.fixture(scope="session")
def api(tmp_path_factory, double_server, closed_url) -> Iterator[Service]:
    """The main service: 2 gevent workers, default CORS, no API key, 5 s upstream read timeout."""
    with _service(tmp_path_factory, "main", double_server.url, closed_url, UPSTREAM_TIMEOUT_S="5") as service:
        yield service


@pytest.fixture(scope="session")
def api_postgres(tmp_path_factory, double_server, closed_url, postgres_server) -> Iterator[Service]:
    """The main service's twin with its history in PostgreSQL (a database of its own on the session's server)."""
    url = postgres_server.create_database("api_main")
    with _service(tmp_path_factory, "main-pg", double_server.url, closed_url, UPSTREAM_TIMEOUT_S="5",
                  DATABASE_URL=url) as service:
        yield service


@pytest.fixture(scope="session")
def api_auth(tmp_path_factory, double_server, closed_url) -> Iterator[Service]:
    with _service(tmp_path_factory, "auth", double_server.url, closed_url, API_KEY=API_KEY,
                  MAX_UPLOAD_MB="1") as service:
        yield service


@pytest.fixture(scope="session")
def api_fast_timeout(tmp_path_factory, double_server, closed_url) -> Iterator[Service]:
    with _service(tmp_path_factory, "timeout", double_server.url, closed_url, UPSTREAM_TIMEOUT_S="1",
                  BODY_TIMEOUT_S="1", WEB_CONCURRENCY="1") as service:
        yield service


@pytest.fixture()
def own_api(tmp_path, ollama, closed_url) -> Iterator[tuple[Service, Path]]:
    """A service of the test's own (2 workers) and its database file: for tests that kill it or read its history."""
    db = tmp_path / "llm-api.sqlite3"
    with llm_api_service(ollama.url, closed_url, db, env={"WEB_CONCURRENCY": "2"}, log_dir=LOG_DIR) as service:
        yield service, db


@pytest.fixture(scope="session")
def api_down(tmp_path_factory, closed_url) -> Iterator[Service]:
    with _service(tmp_path_factory, "down", closed_url, closed_url, WEB_CONCURRENCY="1") as service:
        yield service


@pytest.fixture(params=ENGINES)
def api_each_engine(request, api: Service) -> Service:
    """The main service (SQLite), then its PostgreSQL twin: a module runs all its tests on both history engines by
    defining `api` as this fixture."""
    return api if request.param == "sqlite" else request.getfixturevalue("api_postgres")


@pytest.fixture(params=ENGINES)
def history_db(request, tmp_path) -> HistoryDb:
    """An empty history database of each engine in turn: a SQLite file, or a fresh database on the session's
    PostgreSQL server (tests/conftest.py `postgres_server`)."""
    if request.param == "sqlite":
        return HistoryDb("sqlite", str(tmp_path / "history.sqlite3"))
    server = request.getfixturevalue("postgres_server")
    return HistoryDb("postgres", server.create_database(f"t_{uuid.uuid4().hex[:12]}"))


def ndjson(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.iter_lines() if line]


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    return body["error"]


def ask(service: Service, **body) -> requests.Response:
    return requests.post(service.url + "/ask-llm", json=body, stream=bool(body.get("stream")), timeout=30)


def log_of(service: Service) -> str:
    return Path(service.log_path).read_text(errors="replace")
