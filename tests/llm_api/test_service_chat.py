"""The real llm-api (gunicorn, Dockerfile CMD) against the Ollama double: answers, history, sessions, models; on both
history engines (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.llm_api.conftest import ask, assert_error, ndjson
from tests.support.procs import Service

DEFAULT_MODEL = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"


@pytest.fixture()
def api(api_each_engine: Service) -> Service:
    """Every test in this file runs on both history engines."""
    return api_each_engine


def test_healthz_and_common_headers(api):
    response = requests.get(api.url + "/healthz", headers={"X-Request-ID": "abc.DEF:1-2_3"}, timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"] == "abc.DEF:1-2_3"
    assert response.headers["Server-Timing"].startswith("total;dur=")
    generated = requests.get(api.url + "/healthz", headers={"X-Request-ID": "bad id!"}, timeout=5)
    assert generated.headers["X-Request-ID"] != "bad id!" and len(generated.headers["X-Request-ID"]) >= 16


def test_request_id_is_in_the_access_log(api):
    requests.get(api.url + "/healthz", headers={"X-Request-ID": "find-me-in-the-log-42"}, timeout=5)
    deadline = time.monotonic() + 5
    while "request_id=find-me-in-the-log-42" not in api.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "request_id=find-me-in-the-log-42" in api.log()


def test_non_streamed_answer(api, ollama):
    response = ask(api, prompt="hello there", options={"temperature": 0.2, "top_p": 0.9, "max_tokens": 50,
                                                       "seed": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == "You said: hello there (1 messages)"
    assert body["model"] == DEFAULT_MODEL
    assert set(body) == {"answer", "model", "session_id", "message_id", "timings"}
    timings = body["timings"]
    assert set(timings) == {"total_ms", "load_ms", "prompt_tokens", "completion_tokens", "tokens_per_s",
                            "first_token_ms"}
    assert timings["first_token_ms"] is None and timings["completion_tokens"] == 6 and timings["total_ms"] > 0
    sent = ollama.chat_requests()[-1]["body"]
    assert sent["stream"] is False and sent["model"] == DEFAULT_MODEL
    assert sent["options"] == {"temperature": 0.2, "top_p": 0.9, "num_predict": 50, "seed": 7}
    assert sent["messages"] == [{"role": "user", "content": "hello there"}]


def test_streamed_answer_and_storage(api, ollama):
    ollama.set(token_delay_s=0.01)
    response = ask(api, prompt="stream this please", stream=True, model="qwen2.5:0.5b")
    assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
    lines = ndjson(response)
    start, tokens, done = lines[0], lines[1:-1], lines[-1]
    assert start["type"] == "start" and start["model"] == "qwen2.5:0.5b"
    assert {"session_id", "message_id"} <= set(start)
    assert tokens and all(t["type"] == "token" for t in tokens)
    assert done["type"] == "done"
    assert "".join(t["text"] for t in tokens) == done["answer"] == "You said: stream this please (1 messages)"
    timings = done["timings"]
    assert timings["first_token_ms"] > 0 and timings["tokens_per_s"] > 0
    # Both measured by the llm-api on one clock: the first token cannot come after the whole answer.
    n_tokens = len(tokens)
    assert timings["first_token_ms"] < timings["total_ms"]
    assert timings["total_ms"] - timings["first_token_ms"] >= 10 * (n_tokens - 1) * 0.9  # the double's 10 ms delays
    session = requests.get(f"{api.url}/sessions/{start['session_id']}", timeout=5).json()
    assert session["title"] == "stream this please"
    assert [(m["role"], m["content"]) for m in session["messages"]] == [
        ("user", "stream this please"), ("assistant", done["answer"])]
    assert session["messages"][1]["id"] == start["message_id"]
    assert session["messages"][1]["timings"] == done["timings"] and session["messages"][1]["model"] == "qwen2.5:0.5b"


def test_stream_lines_arrive_as_they_are_made(api, ollama):
    ollama.set(token_delay_s=0.1)
    response = ask(api, prompt="one two three four five six seven eight", stream=True)
    arrivals = []
    for line in response.iter_lines():
        if line:
            arrivals.append((time.monotonic(), json.loads(line)["type"]))
    first_token = next(t for t, kind in arrivals if kind == "token")
    done = next(t for t, kind in arrivals if kind == "done")
    assert done - first_token > 0.6  # ~11 tokens 0.1 s apart: the first was not held back until the end


def test_history_goes_to_ollama_in_order_across_turns(api, ollama):
    first = ask(api, prompt="turn one").json()
    sid = first["session_id"]
    second = ndjson(ask(api, prompt="turn two", session_id=sid, stream=True))[-1]
    third = ask(api, prompt="turn three", session_id=sid, system="You are terse.").json()
    assert second["answer"] == "You said: turn two (3 messages)"
    assert third["answer"] == "You said: turn three (6 messages)"
    assert ollama.chat_requests()[-1]["body"]["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "turn one"},
        {"role": "assistant", "content": "You said: turn one (1 messages)"},
        {"role": "user", "content": "turn two"},
        {"role": "assistant", "content": "You said: turn two (3 messages)"},
        {"role": "user", "content": "turn three"},
    ]
    session = requests.get(f"{api.url}/sessions/{sid}", timeout=5).json()
    assert [m["content"] for m in session["messages"]][::2] == ["turn one", "turn two", "turn three"]
    assert session["title"] == "turn one"
    assert all(m["created_at"].endswith("Z") for m in session["messages"])


def test_sessions_list_pagination_and_delete(api, ollama):
    ids = [ask(api, prompt=f"page test {i}").json()["session_id"] for i in range(5)]
    listed = requests.get(api.url + "/sessions", params={"limit": 200}, timeout=5).json()["sessions"]
    order = [s["id"] for s in listed if s["id"] in ids]
    assert order == ids[::-1]
    entry = next(s for s in listed if s["id"] == ids[0])
    assert set(entry) == {"id", "title", "created_at", "updated_at", "message_count"}
    assert entry["message_count"] == 2 and entry["title"] == "page test 0"

    page1 = requests.get(api.url + "/sessions", params={"limit": 2}, timeout=5).json()["sessions"]
    page2 = requests.get(api.url + "/sessions", params={"limit": 2, "before": page1[-1]["updated_at"]},
                         timeout=5).json()["sessions"]
    assert len(page1) == 2 and len(page2) == 2
    assert [s["id"] for s in page1 + page2] == [s["id"] for s in listed[:4]]

    assert requests.delete(f"{api.url}/sessions/{ids[0]}", timeout=5).status_code == 204
    assert_error(requests.get(f"{api.url}/sessions/{ids[0]}", timeout=5), 404, "not_found")
    assert_error(requests.delete(f"{api.url}/sessions/{ids[0]}", timeout=5), 404, "not_found")
    assert_error(ask(api, prompt="again", session_id=ids[0]), 404, "not_found")


def test_unknown_model_is_model_not_found_with_pull_hint(api, ollama):
    for stream in (False, True):
        err = assert_error(ask(api, prompt="hi", model="nosuch:7b", stream=stream), 404, "model_not_found")
        assert "nosuch:7b" in err["message"] and "/models/pull" in err["message"]
        assert "ollama pull nosuch:7b" in err["message"]


def test_models_list(api, ollama):
    body = requests.get(api.url + "/models", timeout=10).json()
    assert body["default"] == DEFAULT_MODEL
    by_name = {m["name"]: m for m in body["models"]}
    assert by_name[DEFAULT_MODEL] == {"name": DEFAULT_MODEL, "backend": "ollama", "size_bytes": by_name[
        DEFAULT_MODEL]["size_bytes"], "capabilities": ["chat"], "state": "ready"}
    assert by_name[DEFAULT_MODEL]["size_bytes"] > 0
    assert by_name["qwen2.5:0.5b"]["state"] == "ready"
    assert by_name["omni"] == {"name": "omni", "backend": "worker", "size_bytes": None,
                               "capabilities": ["chat", "audio", "speech"], "state": "failed"}


def test_default_model_not_pulled_is_listed_and_pull_makes_it_ready(api, ollama):
    requests.delete(ollama.url + "/api/delete", json={"model": DEFAULT_MODEL}, timeout=5).raise_for_status()
    by_name = {m["name"]: m for m in requests.get(api.url + "/models", timeout=10).json()["models"]}
    assert by_name[DEFAULT_MODEL]["state"] == "not_pulled" and by_name[DEFAULT_MODEL]["size_bytes"] is None
    assert_error(ask(api, prompt="hi"), 404, "model_not_found")

    lines = ndjson(requests.post(api.url + "/models/pull", json={"name": DEFAULT_MODEL}, stream=True, timeout=30))
    assert lines[-1] == {"type": "done"}
    progress = lines[:-1]
    assert progress[0] == {"type": "progress", "status": "pulling manifest", "completed": None, "total": None}
    assert all(set(p) == {"type", "status", "completed", "total"} and p["type"] == "progress" for p in progress)
    layer = [p for p in progress if p["total"]]
    assert layer and layer[-1]["completed"] == layer[-1]["total"]
    by_name = {m["name"]: m for m in requests.get(api.url + "/models", timeout=10).json()["models"]}
    assert by_name[DEFAULT_MODEL]["state"] == "ready"
    assert ask(api, prompt="now it works").status_code == 200


def test_pulling_a_present_model_finishes_at_once(api, ollama):
    lines = ndjson(requests.post(api.url + "/models/pull", json={"name": "qwen2.5:0.5b"}, stream=True, timeout=30))
    assert lines[-1] == {"type": "done"} and len(lines) < 8


def test_pull_error_mid_stream_is_a_final_error_line(api, ollama):
    lines = ndjson(requests.post(api.url + "/models/pull", json={"name": "missing/model:1b"}, stream=True,
                                 timeout=30))
    assert lines[0]["type"] == "progress"
    assert lines[-1]["type"] == "error" and lines[-1]["error"]["code"] == "backend_error"
    assert "file does not exist" in lines[-1]["error"]["message"]


def test_readyz_is_degraded_without_the_worker(api, ollama):
    response = requests.get(api.url + "/readyz", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["ollama"]["status"] == "up" and body["checks"]["database"]["status"] == "up"
    assert body["checks"]["worker"]["status"] == "down"


def test_japanese_text_round_trips(api, ollama):
    body = ask(api, prompt="日本語で答えてください").json()
    assert body["answer"] == "You said: 日本語で答えてください (1 messages)"
    session = requests.get(f"{api.url}/sessions/{body['session_id']}", timeout=5).json()
    assert session["title"] == "日本語で答えてください"
