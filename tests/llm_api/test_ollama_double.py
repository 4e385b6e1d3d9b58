"""The Ollama double speaks Ollama's protocol: checked with the official `ollama` and `openai` clients."""

from __future__ import annotations

import sys

import openai
import pytest
import requests

import ollama as ollama_client
from tests.support.procs import REPO_ROOT, free_port, run_service

MODEL = "qwen2.5:0.5b"


@pytest.fixture()
def client(ollama) -> ollama_client.Client:
    return ollama_client.Client(host=ollama.url)


def test_chat_non_stream(client):
    response = client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=False,
                           options={"num_predict": 100})
    assert response.message.role == "assistant"
    assert response.message.content == "You said: hi (1 messages)"
    assert response.done and response.done_reason == "stop"
    assert response.eval_count == 5 and response.total_duration > 0 and response.eval_duration > 0
    assert response.prompt_eval_count > 0 and response.load_duration > 0


def test_chat_stream(client):
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                {"role": "user", "content": "count these"}]
    parts = list(client.chat(model=MODEL, messages=messages, stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert "".join(p.message.content for p in parts) == "You said: count these (3 messages)"
    assert parts[-1].eval_count == len(parts) - 1


def test_num_predict_limits_tokens(client):
    response = client.chat(model=MODEL, messages=[{"role": "user", "content": "one two three"}],
                           options={"num_predict": 2})
    assert response.message.content == "You said: " and response.done_reason == "length"


def test_generate(client):
    assert client.generate(model=MODEL, prompt="hello").response == "You said: hello (1 messages)"
    streamed = "".join(part.response for part in client.generate(model=MODEL, prompt="hello", stream=True))
    assert streamed == "You said: hello (1 messages)"


def test_list_show_ps_version(client, ollama):
    names = [m.model for m in client.list().models]
    assert names == ["7shi/ezo-gemma-2-jpn:2b-instruct-q8_0", MODEL]
    assert client.list().models[0].size > 0 and client.list().models[0].details.format == "gguf"
    shown = client.show(MODEL)
    assert shown.capabilities == ["completion"] and shown.details.quantization_level
    client.chat(model=MODEL, messages=[{"role": "user", "content": "load"}])
    assert [m.model for m in client.ps().models] == [MODEL]
    assert requests.get(ollama.url + "/api/version", timeout=5).json()["version"]


def test_pull_then_present_then_delete(client):
    statuses = [p.status for p in client.pull("tinyllama:1.1b", stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(s.startswith("pulling ") and s != "pulling manifest" for s in statuses)
    assert "tinyllama:1.1b" in [m.model for m in client.list().models]
    assert client.pull("tinyllama:1.1b").status == "success"
    assert client.delete("tinyllama:1.1b").status == "success"
    assert "tinyllama:1.1b" not in [m.model for m in client.list().models]


def test_errors_are_response_errors(client):
    with pytest.raises(ollama_client.ResponseError) as info:
        client.chat(model="nosuch:1b", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404 and "nosuch:1b" in info.value.error
    with pytest.raises(ollama_client.ResponseError) as info:
        client.show("nosuch:1b")
    assert info.value.status_code == 404
    with pytest.raises(ollama_client.ResponseError):
        list(client.pull("missing/model", stream=True))


def test_error_mid_stream_raises_in_the_client(client, ollama):
    ollama.set(error_after_tokens=2)
    with pytest.raises(ollama_client.ResponseError, match="unexpected EOF"):
        list(client.chat(model=MODEL, messages=[{"role": "user", "content": "a b c d"}], stream=True))


def test_openai_client_against_v1(ollama):
    client = openai.OpenAI(base_url=ollama.url + "/v1", api_key="ollama")
    assert MODEL in [m.id for m in client.models.list().data]
    completion = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hey"}])
    assert completion.choices[0].message.content == "You said: hey (1 messages)"
    assert completion.usage.completion_tokens == 5
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hey"}], stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == "You said: hey (1 messages)"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nosuch", messages=[{"role": "user", "content": "x"}])


def test_control_endpoint_sets_knobs(ollama):
    state = requests.post(ollama.url + "/_double/knobs", json={"token_delay_s": 0.01}, timeout=5).json()
    assert state["knobs"]["token_delay_s"] == 0.01
    assert requests.post(ollama.url + "/_double/knobs", json={"nope": 1}, timeout=5).status_code == 400
    assert requests.post(ollama.url + "/_double/reset", timeout=5).json()["knobs"]["token_delay_s"] == 0.0


def test_runs_as_a_process(tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "tests.doubles.ollama_double", "--port", str(port), "--token-delay", "0",
            "--models", "a:1b,b"]
    with run_service(argv, cwd=REPO_ROOT, port=port, log_path=tmp_path / "double.log",
                     health_path="/api/version") as service:
        client = ollama_client.Client(host=service.url)
        assert [m.model for m in client.list().models] == ["a:1b", "b:latest"]
        assert client.chat(model="b", messages=[{"role": "user", "content": "x"}]).message.content.startswith(
            "You said: x")
