"""The llm-api in front of a REAL OpenAI-compatible backend with a real model: llama.cpp's server (`xllamacpp`)
serving SmolLM2-135M-Instruct, beside the Ollama double and a configured backend that is down. `/ask-llm` streams
and stores its answers with the backend's usage and timings, a session switches between Ollama and it with the
whole history going to whichever answers, `/v1` works through the `openai` client, and a wrong key or a dead backend
ends in the contract's errors and states, with the key nowhere to be seen."""

from __future__ import annotations

import json
import time

import openai
import pytest
import requests

from tests.doubles.stack import llm_api_service
from tests.llm_api.conftest import LOG_DIR, ask, assert_error, log_of, ndjson
from tests.support.llamacpp import llamacpp_server

pytestmark = pytest.mark.slow
LOCAL = "local/smollm2"
OLLAMA_MODEL = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"
SHORT = {"max_tokens": 12, "temperature": 0, "seed": 1}
BAD_KEY = "sk-wrong-0123456789abcdef"


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory, double_server, closed_url, llamacpp_url):
    db = tmp_path_factory.mktemp("hybrid") / "llm-api.sqlite3"
    env = {"OPENAI_BACKENDS": f"local={llamacpp_url},dead={closed_url}/v1", "OPENAI_BACKEND_DEAD_MODELS": "big",
           "WEB_CONCURRENCY": "1"}
    with llm_api_service(double_server.url, closed_url, db, env=env, log_dir=LOG_DIR) as service:
        yield service


def test_models_lists_the_backends_models_and_a_dead_backend_as_failed_without_waiting(hybrid, ollama):
    started = time.monotonic()
    body = requests.get(hybrid.url + "/models", timeout=30).json()
    elapsed = time.monotonic() - started
    by_name = {m["name"]: m for m in body["models"]}
    assert by_name[LOCAL]["backend"] == "openai" and by_name[LOCAL]["provider"] == "local"
    assert by_name[LOCAL]["state"] == "ready"
    assert by_name["dead/big"]["state"] == "failed" and "Cannot connect" in by_name["dead/big"]["reason"]
    assert {b["name"]: b["state"] for b in body["backends"]} == {"local": "ready", "dead": "failed"}
    assert elapsed < 5, f"/models took {elapsed:.1f} s"
    # Cached: the second listing does not wait for anything.
    started = time.monotonic()
    requests.get(hybrid.url + "/models", timeout=30).raise_for_status()
    assert time.monotonic() - started < 1.5


def test_readyz_is_not_unavailable_because_an_optional_backend_is_down(hybrid, ollama):
    response = requests.get(hybrid.url + "/readyz", timeout=30)
    assert response.status_code == 200 and response.json()["status"] != "unavailable"
    backends = response.json()["checks"]["backends"]
    assert backends["local"]["status"] == "up" and backends["dead"]["status"] == "down"


def test_ask_llm_answers_from_llamacpp_whole_and_streamed_and_stores_both(hybrid, ollama):
    whole = ask(hybrid, prompt="What is the capital of France?", model=LOCAL, options=SHORT)
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert body["model"] == LOCAL and body["answer"].strip()
    timings = body["timings"]
    assert timings["prompt_tokens"] > 0 and timings["completion_tokens"] > 0 and timings["tokens_per_s"] > 0

    lines = ndjson(ask(hybrid, prompt="And of Italy?", model=LOCAL, session_id=body["session_id"], stream=True,
                       options=SHORT))
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "done"
    tokens = "".join(line["text"] for line in lines if line["type"] == "token")
    assert tokens and lines[-1]["answer"] == tokens
    assert lines[-1]["timings"]["first_token_ms"] <= lines[-1]["timings"]["total_ms"]
    # The second turn carried the first: the backend counted more prompt tokens for it.
    assert lines[-1]["timings"]["prompt_tokens"] > timings["prompt_tokens"]
    stored = requests.get(f"{hybrid.url}/sessions/{body['session_id']}", timeout=10).json()["messages"]
    assert [(m["role"], m["model"]) for m in stored] == [("user", LOCAL), ("assistant", LOCAL)] * 2


def test_a_session_switches_model_between_turns_and_the_whole_history_goes_along(hybrid, ollama):
    first = ask(hybrid, prompt="My name is Aiko.", model=OLLAMA_MODEL).json()
    sid = first["session_id"]
    second = ask(hybrid, prompt="Say hello to me.", model=LOCAL, session_id=sid, options=SHORT)
    assert second.status_code == 200, second.text
    third = ask(hybrid, prompt="What is my name?", model=OLLAMA_MODEL, session_id=sid).json()
    # The double answers with the number of messages it was sent: both earlier exchanges, whoever answered them.
    assert third["answer"] == "You said: What is my name? (5 messages)"
    sent = ollama.chat_requests()[-1]["body"]["messages"]
    assert [m["content"] for m in sent[:4]] == ["My name is Aiko.", first["answer"], "Say hello to me.",
                                                second.json()["answer"]]
    models = [m["model"] for m in requests.get(f"{hybrid.url}/sessions/{sid}", timeout=10).json()["messages"]]
    assert models == [OLLAMA_MODEL, OLLAMA_MODEL, LOCAL, LOCAL, OLLAMA_MODEL, OLLAMA_MODEL]


def test_the_openai_client_talks_to_llamacpp_through_v1(hybrid, ollama):
    client = openai.OpenAI(base_url=hybrid.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    assert LOCAL in [m.id for m in client.models.list()]
    answer = client.chat.completions.create(model=LOCAL, max_tokens=8, temperature=0, seed=1,
                                            messages=[{"role": "user", "content": "Say hi."}])
    assert answer.choices[0].message.content and answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.prompt_tokens > 0
    chunks = list(client.chat.completions.create(model=LOCAL, max_tokens=8, temperature=0, seed=1, stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "Say hi."}]))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == answer.choices[0].message.content  # greedy: the same answer either way
    assert chunks[-1].usage.completion_tokens == answer.usage.completion_tokens


def test_a_dead_backend_is_503_and_an_unknown_backend_model_is_404(hybrid, ollama):
    assert_error(ask(hybrid, prompt="x", model="dead/big"), 503, "backend_unavailable")
    assert_error(ask(hybrid, prompt="x", model="local/no-such-model"), 404, "model_not_found")


def test_a_wrong_key_is_502_and_the_key_is_in_no_log_line_body_or_listing(tmp_path, double_server, closed_url):
    key_file = tmp_path / "server-key"
    key_file.write_text("the-right-key-123456")
    with llamacpp_server("llamacpp-keyed", api_key_file=key_file, parallel=1) as url, \
            llm_api_service(double_server.url, closed_url, tmp_path / "db.sqlite3", log_dir=LOG_DIR,
                            env={"OPENAI_BACKENDS": f"keyed={url}", "OPENAI_BACKEND_KEYED_API_KEY": BAD_KEY,
                                 "WEB_CONCURRENCY": "1"}) as api:
        listing = requests.get(api.url + "/models", timeout=30)
        keyed = next(b for b in listing.json()["backends"] if b["name"] == "keyed")
        assert keyed["state"] == "failed" and "OPENAI_BACKEND_KEYED_API_KEY" in keyed["reason"]
        error = assert_error(ask(api, prompt="x", model="keyed/smollm2"), 502, "backend_error")
        assert "refused the configured key" in error["message"]
        streamed = ask(api, prompt="x", model="keyed/smollm2", stream=True)
        assert streamed.status_code == 502
        for text in (listing.text, json.dumps(error), streamed.text, log_of(api)):
            assert BAD_KEY not in text
