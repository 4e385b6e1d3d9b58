"""The app factory in-process (Flask test client): CORS with a wildcard origin list, request ids, and that the
factory builds from an explicit Config with nothing global left behind."""

from __future__ import annotations

from llm_api.app import create_app
from llm_api.config import load_config


def make(tmp_path, **env):
    config = load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3"), "OLLAMA_URL": "http://127.0.0.1:9",
                          "WORKER_URL": "http://127.0.0.1:9", **env})
    return create_app(config).test_client()


def test_wildcard_origins_echo_the_callers_origin(tmp_path):
    client = make(tmp_path, CORS_ORIGINS="*")
    response = client.options("/ask-llm", headers={"Origin": "https://anywhere.example",
                                                   "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://anywhere.example"
    simple = client.get("/healthz", headers={"Origin": "https://anywhere.example"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://anywhere.example"


def test_no_origin_header_gets_no_cors_headers(tmp_path):
    response = make(tmp_path).get("/healthz")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["Vary"] == "Origin"


def test_two_apps_are_independent(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    open_app = make(tmp_path / "a")
    locked_app = make(tmp_path / "b", API_KEY="k")
    assert open_app.get("/sessions").status_code == 200
    assert locked_app.get("/sessions").status_code == 401
    assert locked_app.get("/sessions", headers={"Authorization": "Bearer k"}).status_code == 200


def test_request_id_echo_rules(tmp_path):
    client = make(tmp_path)
    assert client.get("/healthz", headers={"X-Request-ID": "a" * 128}).headers["X-Request-ID"] == "a" * 128
    assert client.get("/healthz", headers={"X-Request-ID": "a" * 129}).headers["X-Request-ID"] != "a" * 129
    assert client.get("/healthz", headers={"X-Request-ID": "ü"}).headers["X-Request-ID"] != "ü"


def test_a_bug_is_a_500_internal_without_a_stack_trace(tmp_path):
    config = load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3")})
    app = create_app(config)

    def boom():
        raise RuntimeError("secret detail")

    app.add_url_rule("/boom", "boom", boom)
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal"
    assert "secret detail" not in response.text and "Traceback" not in response.text


def test_an_unreachable_history_database_is_503_with_retry_after(tmp_path):
    """PostgreSQL down or the pool exhausted: the store raises StoreError, the caller gets 503, never 500."""
    from llm_api.store import StoreError

    app = create_app(load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3")}))
    store = app.extensions["llm_api"].store

    def unreachable(*_args, **_kwargs):
        raise StoreError("database postgresql://db:5432/history: PoolTimeout: couldn't get a connection")

    store.list_sessions = unreachable
    response = app.test_client().get("/sessions")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "backend_unavailable"
    assert response.headers["Retry-After"] == "5"
    assert "postgresql://" not in response.text
