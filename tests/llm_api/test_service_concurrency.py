"""Many sessions talking at once to 2 gunicorn workers, on both history engines: no history lost, reordered or
mixed between sessions."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.procs import Service

SESSIONS = 8
TURNS = 4


@pytest.fixture()
def api(api_each_engine: Service) -> Service:
    """Every test in this file runs on both history engines."""
    return api_each_engine


def converse(url: str, n: int) -> tuple[str, list[str]]:
    http = requests.Session()
    sid = None
    answers = []
    for turn in range(TURNS):
        body = {"prompt": f"session {n} turn {turn}", "stream": turn % 2 == 1}
        if sid:
            body["session_id"] = sid
        response = http.post(url + "/ask-llm", json=body, stream=body["stream"], timeout=60)
        assert response.status_code == 200, response.text
        if body["stream"]:
            lines = [json.loads(line) for line in response.iter_lines() if line]
            assert lines[-1]["type"] == "done", lines[-1]
            sid, answer = lines[0]["session_id"], lines[-1]["answer"]
        else:
            data = response.json()
            sid, answer = data["session_id"], data["answer"]
        answers.append(answer)
    return sid, answers


def test_parallel_sessions_keep_their_own_history_in_order(api, ollama):
    ollama.set(token_delay_s=0.002)
    with ThreadPoolExecutor(SESSIONS) as pool:
        results = list(pool.map(lambda n: converse(api.url, n), range(SESSIONS)))
    assert len({sid for sid, _ in results}) == SESSIONS
    for n, (sid, answers) in enumerate(results):
        # each answer reports how many messages Ollama received: the whole history of this session only
        assert answers == [f"You said: session {n} turn {t} ({2 * t + 1} messages)" for t in range(TURNS)]
        messages = requests.get(f"{api.url}/sessions/{sid}", timeout=10).json()["messages"]
        expected = []
        for t in range(TURNS):
            expected += [("user", f"session {n} turn {t}"), ("assistant", answers[t])]
        assert [(m["role"], m["content"]) for m in messages] == expected
    for request in ollama.chat_requests():
        contents = [m["content"] for m in request["body"]["messages"] if m["role"] == "user"]
        owners = {c.split(" turn ")[0] for c in contents}
        assert len(owners) == 1  # no request mixed two sessions


def test_many_open_streams_at_once(api, ollama):
    """More simultaneous streams than a thread-per-request server would hold: gevent serves them all."""
    ollama.set(token_delay_s=0.03)
    prompt = " ".join(f"w{i}" for i in range(15))

    def stream(n: int) -> list[dict]:
        response = requests.post(api.url + "/ask-llm", json={"prompt": f"{n} {prompt}", "stream": True},
                                 stream=True, timeout=60)
        return [json.loads(line) for line in response.iter_lines() if line]

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(stream, range(40)))
    for n, lines in enumerate(results):
        assert lines[-1]["type"] == "done" and lines[-1]["answer"] == f"You said: {n} {prompt} (1 messages)"
    assert ollama.state()["counters"]["chat_completed"] == 40
