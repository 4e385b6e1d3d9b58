"""Upstream faults: Ollama down, slow, stalled, failing mid-stream, answering errors; client disconnects."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.llm_api.conftest import ask, assert_error, ndjson

LONG_PROMPT = " ".join(f"word{i}" for i in range(60))


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def message_count(api, sid: str) -> int:
    return len(requests.get(f"{api.url}/sessions/{sid}", timeout=5).json()["messages"])


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_down_is_503_with_retry_after(api_down, stream):
    response = ask(api_down, prompt="hi", stream=stream)
    err = assert_error(response, 503, "backend_unavailable")
    assert int(response.headers["Retry-After"]) > 0 and "Ollama" in err["message"]


def test_ollama_down_on_models_pull_and_readyz(api_down):
    assert_error(requests.get(api_down.url + "/models", timeout=10), 503, "backend_unavailable")
    assert_error(requests.post(api_down.url + "/models/pull", json={"name": "x:1b"}, timeout=10),
                 503, "backend_unavailable")
    ready = requests.get(api_down.url + "/readyz", timeout=10)
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable" and body["checks"]["ollama"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"
    assert requests.get(api_down.url + "/sessions", timeout=5).status_code == 200  # sessions still work


def test_upstream_failure_is_logged_once_with_the_request_id(api_down):
    ask(api_down, prompt="log me").close()
    rid = "log-once-request-1"
    requests.post(api_down.url + "/ask-llm", json={"prompt": "x"}, headers={"X-Request-ID": rid}, timeout=10)
    assert wait_for(lambda: f"request_id={rid}" in api_down.log() and "upstream Ollama failed" in api_down.log())
    lines = [line for line in api_down.log().splitlines() if rid in line and "upstream" in line]
    assert len(lines) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_slow_ollama_is_504(api_fast_timeout, ollama, stream):
    ollama.set(load_delay_s=2.5)
    started = time.monotonic()
    err = assert_error(ask(api_fast_timeout, prompt="slow", stream=stream), 504, "backend_timeout")
    assert time.monotonic() - started < 2.4
    assert "1 s" in err["message"]


def test_stall_mid_stream_is_a_final_timeout_line_and_nothing_is_stored(api_fast_timeout, ollama):
    ollama.set(stall_after_tokens=2)
    lines = ndjson(ask(api_fast_timeout, prompt=LONG_PROMPT, stream=True))
    assert lines[0]["type"] == "start"
    assert [line["type"] for line in lines[1:-1]] == ["token", "token"]
    assert lines[-1]["type"] == "error" and lines[-1]["error"]["code"] == "backend_timeout"
    assert_error(requests.get(f"{api_fast_timeout.url}/sessions/{lines[0]['session_id']}", timeout=5),
                 404, "not_found")
    assert wait_for(lambda: ollama.state()["counters"]["chat_aborted"] == 1)


def test_error_mid_stream_is_a_final_error_line_and_nothing_is_stored(api, ollama):
    sid = ask(api, prompt="first turn").json()["session_id"]
    ollama.set(error_after_tokens=3)
    lines = ndjson(ask(api, prompt=LONG_PROMPT, session_id=sid, stream=True))
    assert [line["type"] for line in lines] == ["start", "token", "token", "token", "error"]
    error = lines[-1]["error"]
    assert error["code"] == "backend_error" and "unexpected EOF" in error["message"] and error["request_id"]
    assert message_count(api, sid) == 2  # the failed turn stored nothing, not even the user message


def test_ollama_500_is_502_and_nothing_is_stored(api, ollama):
    sid = ask(api, prompt="first").json()["session_id"]
    ollama.set(fail_status=500)
    for stream in (False, True):
        err = assert_error(ask(api, prompt="again", session_id=sid, stream=stream), 502, "backend_error")
        assert "terminated" in err["message"]
    assert message_count(api, sid) == 2


def test_ollama_503_is_passed_on_with_retry_after(api, ollama):
    ollama.set(fail_status=503)
    response = ask(api, prompt="busy")
    assert_error(response, 503, "backend_unavailable")
    assert response.headers["Retry-After"]


def test_client_disconnect_stops_upstream_and_stores_nothing(api, ollama):
    ollama.set(token_delay_s=0.05)
    response = ask(api, prompt=LONG_PROMPT, stream=True)
    lines = response.iter_lines()
    start = json.loads(next(lines))
    assert json.loads(next(lines))["type"] == "token"
    response.close()  # the browser went away
    assert wait_for(lambda: ollama.state()["counters"]["chat_aborted"] == 1)
    counters = ollama.state()["counters"]
    assert counters["chat_completed"] == 0
    time.sleep(0.2)
    assert_error(requests.get(f"{api.url}/sessions/{start['session_id']}", timeout=5), 404, "not_found")


@pytest.mark.parametrize("stream", [False, True])
def test_omni_with_worker_down_is_503(api, stream):
    response = ask(api, prompt="hi", model="omni", stream=stream)
    err = assert_error(response, 503, "backend_unavailable")
    assert "model-worker" in err["message"] and response.headers["Retry-After"]
