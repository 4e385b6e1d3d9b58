"""llm_api/metrics.py in-process (Flask test client, one registry per app): what is counted and under which labels,
the streams gauge, answer timings, upstream errors, the exposition formats, and who may read /metrics."""

from __future__ import annotations

import pytest
from flask import Response
from prometheus_client.parser import text_string_to_metric_families

from llm_api.app import create_app
from llm_api.config import ConfigError, load_config
from llm_api.metrics import UNMATCHED, Metrics

METRICS_PORT = 18081
API_PORT = 18080


def make_app(tmp_path, **env):
    config = load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3"), "OLLAMA_URL": "http://127.0.0.1:9",
                          "WORKER_URL": "http://127.0.0.1:9", "PORT": str(API_PORT), **env})
    return create_app(config)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def scrape(client, **kwargs) -> str:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    return response.text


class FakeSocket:
    """What gunicorn puts in `environ["gunicorn.socket"]`: the connection, whose local port names the listener."""

    def __init__(self, port: int):
        self.port = port

    def getsockname(self):
        return ("127.0.0.1", self.port)

    def gettimeout(self):
        return None

    def settimeout(self, _timeout):
        pass


def test_requests_are_counted_by_route_rule_not_by_path(tmp_path):
    client = make_app(tmp_path).test_client()
    for sid in ("aaa", "bbb", "ccc"):
        assert client.get(f"/sessions/{sid}").status_code == 404
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    client.open("/healthz", method="BREW")
    text = scrape(client)
    assert value(text, "llm_api_http_requests_total", route="/sessions/<sid>", method="GET", status="404") == 3
    assert value(text, "llm_api_http_requests_total", route=UNMATCHED, method="GET", status="404") == 2
    assert value(text, "llm_api_http_requests_total", route=UNMATCHED, method="other", status="405") == 1
    assert value(text, "llm_api_http_request_duration_seconds_count", route="/sessions/<sid>", method="GET") == 3
    assert not any("aaa" in str(key) or "/no/such" in str(key) for key in samples(text))


def test_the_scrape_counts_itself_on_the_next_scrape(tmp_path):
    client = make_app(tmp_path).test_client()
    scrape(client)
    text = scrape(client)
    assert value(text, "llm_api_http_requests_total", route="/metrics", method="GET", status="200") == 1


@pytest.mark.parametrize("passthrough", [True, False])  # the chat routes' bodies are direct_passthrough
def test_a_stream_is_open_until_its_body_closes_and_timed_to_the_end(tmp_path, passthrough):
    app = make_app(tmp_path)
    closed = []

    def body():
        try:
            yield b"a\n"
            yield b"b\n"
        finally:
            closed.append(True)

    def slow():
        return Response(body(), mimetype="application/x-ndjson", direct_passthrough=passthrough)

    app.add_url_rule("/stream-test", "stream_test", slow)
    client = app.test_client()
    response = client.get("/stream-test")
    text = scrape(client)
    assert value(text, "llm_api_streams_open", route="/stream-test") == 1
    assert value(text, "llm_api_http_requests_total", route="/stream-test", method="GET", status="200") is None
    assert response.data == b"a\nb\n"
    response.close()
    response.close()
    assert closed == [True]  # the route's own body is closed as before
    text = scrape(client)
    assert value(text, "llm_api_streams_open", route="/stream-test") == 0
    assert value(text, "llm_api_http_requests_total", route="/stream-test", method="GET", status="200") == 1


def test_answer_timings_by_model():
    metrics = Metrics()
    metrics.answer("m1", {"first_token_ms": 250.0, "tokens_per_s": 42.5, "prompt_tokens": 7, "completion_tokens": 11,
                          "total_ms": 900.0, "load_ms": None})
    metrics.answer("m1", {"first_token_ms": None, "tokens_per_s": None, "prompt_tokens": None,
                          "completion_tokens": 3})
    metrics.answer("m2", {"first_token_ms": True, "tokens_per_s": -1, "prompt_tokens": "x"})
    text = metrics.render(None)[0].decode()
    assert value(text, "llm_api_chat_answers_total", model="m1") == 2
    assert value(text, "llm_api_chat_answers_total", model="m2") == 1
    assert value(text, "llm_api_time_to_first_token_seconds_count", model="m1") == 1
    assert value(text, "llm_api_time_to_first_token_seconds_sum", model="m1") == pytest.approx(0.25)
    assert value(text, "llm_api_time_to_first_token_seconds_bucket", model="m1", le="0.25") == 1
    assert value(text, "llm_api_tokens_per_second_count", model="m1") == 1
    assert value(text, "llm_api_tokens_per_second_bucket", model="m1", le="30.0") == 0
    assert value(text, "llm_api_tokens_total", model="m1", kind="prompt") == 7
    assert value(text, "llm_api_tokens_total", model="m1", kind="completion") == 14
    assert value(text, "llm_api_time_to_first_token_seconds_count", model="m2") is None  # junk is not a timing
    assert value(text, "llm_api_tokens_per_second_count", model="m2") is None


def test_an_upstream_failure_is_counted_once_by_upstream_and_code(tmp_path):
    client = make_app(tmp_path).test_client()  # Ollama and the worker at a closed port
    assert client.post("/ask-llm", json={"prompt": "hi"}).status_code == 503
    assert client.post("/ask-llm", json={"prompt": "hi", "model": "omni"}).status_code == 503
    text = scrape(client)
    assert value(text, "llm_api_upstream_errors_total", upstream="ollama", kind="backend_unavailable") == 1
    assert value(text, "llm_api_upstream_errors_total", upstream="model-worker", kind="backend_unavailable") == 1
    assert value(text, "llm_api_http_requests_total", route="/ask-llm", method="POST", status="503") == 2
    assert value(text, "llm_api_chat_answers_total", model="omni") is None


def test_an_openai_backend_failure_is_labelled_with_its_name(tmp_path):
    app = make_app(tmp_path, OPENAI_BACKENDS="gem=http://127.0.0.1:9/v1", OPENAI_BACKEND_GEM_MODELS="m")
    client = app.test_client()
    client.post("/v1/chat/completions", json={"model": "gem/m", "messages": [{"role": "user", "content": "hi"}]})
    text = scrape(client)
    assert value(text, "llm_api_upstream_errors_total", upstream="openai/gem", kind="backend_unavailable") >= 1


def test_two_apps_count_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = make_app(tmp_path / "a").test_client(), make_app(tmp_path / "b").test_client()
    first.get("/healthz")
    first.get("/healthz")
    assert value(scrape(first), "llm_api_http_requests_total", route="/healthz", method="GET", status="200") == 2
    assert value(scrape(second), "llm_api_http_requests_total", route="/healthz", method="GET", status="200") is None


def test_openmetrics_when_asked(tmp_path):
    client = make_app(tmp_path).test_client()
    client.get("/healthz")
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    plain = client.get("/metrics")
    assert plain.content_type.startswith("text/plain; version=0.0.4")
    assert plain.headers["Cache-Control"] == "no-store"


def test_metrics_on_the_api_port_need_the_key(tmp_path):
    client = make_app(tmp_path, API_KEY="k").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer k"}).status_code == 200


def test_the_metrics_port_serves_metrics_without_the_key_and_nothing_else(tmp_path):
    client = make_app(tmp_path, API_KEY="k", METRICS_PORT=str(METRICS_PORT)).test_client()
    internal = {"gunicorn.socket": FakeSocket(METRICS_PORT)}
    assert client.get("/metrics", environ_base=internal).status_code == 200
    for path in ("/sessions", "/healthz", "/ask-llm"):
        refused = client.get(path, environ_base=internal)
        assert refused.status_code == 404, path
        assert refused.json["error"]["code"] == "not_found"
        assert refused.json["error"]["request_id"] == refused.headers["X-Request-ID"]
    # The API port: the key as everywhere, whatever the Host header or SERVER_PORT claim.
    public = {"gunicorn.socket": FakeSocket(API_PORT), "SERVER_PORT": str(METRICS_PORT)}
    assert client.get("/metrics", environ_base=public, headers={"Host": f"x:{METRICS_PORT}"}).status_code == 401
    assert client.get("/sessions", environ_base=public, headers={"Authorization": "Bearer k"}).status_code == 200


@pytest.mark.parametrize(("raw", "message"), [("eighty", "METRICS_PORT must be an integer"),
                                              ("0", "METRICS_PORT must be between 1 and 65535"),
                                              (str(API_PORT), "METRICS_PORT must differ from PORT")])
def test_metrics_port_is_validated(tmp_path, raw, message):
    with pytest.raises(ConfigError, match=message):
        make_app(tmp_path, METRICS_PORT=raw)


def test_metrics_port_is_off_by_default(tmp_path):
    config = load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3")})
    assert config.metrics_port is None
