"""The llm-api's OpenAI-compatible surface (`/v1/chat/completions`, `/v1/models`) checked with the official `openai`
client against the real service (gunicorn) and the Ollama double: whole and streamed answers, usage and finish
reasons, sampling options reaching the backend, OpenAI's error shape, the Bearer key, CORS, and the opt-in session."""

from __future__ import annotations

import openai
import pytest
import requests

from tests.llm_api.conftest import API_KEY
from tests.support.procs import Service

MODEL = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"


def client(service: Service, key: str = "unused", **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=service.url + "/v1", api_key=key, max_retries=0, timeout=30, **kwargs)


def test_models_lists_every_usable_model_in_openai_shape(api, ollama):
    ids = [m.id for m in client(api).models.list()]
    assert MODEL in ids
    assert all(m.object == "model" for m in client(api).models.list())


def test_a_whole_answer_with_usage_and_finish_reason(api, ollama):
    answer = client(api).chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}])
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == "You said: Hello there (2 messages)"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_max_tokens_cuts_the_answer_with_finish_reason_length(api, ollama):
    answer = client(api).chat.completions.create(model=MODEL, max_completion_tokens=2,
                                                 messages=[{"role": "user", "content": "one two three four"}])
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 2


def test_a_stream_with_usage_ends_with_done(api, ollama):
    chunks = list(client(api).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "stream me please"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream me please (1 messages)"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_the_raw_stream_is_server_sent_events_ending_in_done(api, ollama):
    response = requests.post(api.url + "/v1/chat/completions", stream=True, timeout=30,
                             json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith(b"data: ") for line in lines)
    assert lines[-1] == b"data: [DONE]"


def test_sampling_options_reach_the_backend(api, ollama):
    client(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], temperature=0.3,
                                        top_p=0.5, seed=7, stop=["END"], max_tokens=9, presence_penalty=0.5,
                                        user="someone")
    options = ollama.chat_requests()[-1]["body"]["options"]
    assert options == {"temperature": 0.3, "top_p": 0.5, "seed": 7, "num_predict": 9, "stop": ["END"]}


def test_text_content_parts_are_joined(api, ollama):
    answer = client(api).chat.completions.create(model=MODEL, messages=[
        {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]}])
    assert answer.choices[0].message.content == "You said: part one\npart two (1 messages)"


@pytest.mark.parametrize(("extra", "param"), [
    ({"n": 2}, "n"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"temperature": 3}, "temperature"),
    ({"logprobs": True}, "logprobs"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0]"),
    ({"messages": []}, "messages"),
])
def test_unsupported_or_invalid_arguments_are_openai_400s(api, ollama, extra, param):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        client(api).chat.completions.create(**body)
    error = caught.value.body
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_an_unknown_model_is_openais_404_model_not_found(api, ollama):
    with pytest.raises(openai.NotFoundError) as caught:
        client(api).chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == "model_not_found"


def test_an_unknown_v1_route_has_openais_error_shape(api):
    response = requests.get(api.url + "/v1/embeddings", timeout=10)
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_failed_stream_is_an_error_event_the_client_raises(api, ollama):
    ollama.set(error_after_tokens=2)
    stream = client(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a b c d"}],
                                                 stream=True)
    with pytest.raises(openai.APIError, match="unexpected EOF"):
        list(stream)


def test_the_bearer_key_is_required_when_set(api_auth, ollama):
    with pytest.raises(openai.AuthenticationError) as caught:
        client(api_auth, key="wrong").models.list()
    assert caught.value.body["type"] == "authentication_error"
    answer = client(api_auth, key=API_KEY).chat.completions.create(model=MODEL,
                                                                   messages=[{"role": "user", "content": "ok"}])
    assert answer.choices[0].message.content.startswith("You said: ok")


def test_cors_preflight_on_v1_allows_the_session_header(api):
    response = requests.options(api.url + "/v1/chat/completions", timeout=10, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-session-id"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "X-Session-ID" in response.headers["Access-Control-Allow-Headers"]


def test_stateless_by_default_and_an_opt_in_session_keeps_the_exchange(api, ollama):
    before = requests.get(api.url + "/sessions", timeout=10).json()["sessions"]
    client(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "not kept"}])
    assert requests.get(api.url + "/sessions", timeout=10).json()["sessions"] == before

    raw = client(api).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "keep this"}], extra_headers={"X-Session-ID": "new"})
    session_id = raw.headers["X-Session-ID"]
    stream = client(api).chat.completions.create(
        model=MODEL, stream=True, extra_headers={"X-Session-ID": session_id},
        messages=[{"role": "user", "content": "keep this"}, {"role": "assistant", "content": "ok"},
                  {"role": "user", "content": "and this"}])
    list(stream)
    messages = requests.get(f"{api.url}/sessions/{session_id}", timeout=10).json()["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "keep this"), ("assistant", "You said: keep this (1 messages)"),
        ("user", "and this"), ("assistant", "You said: and this (3 messages)")]

    with pytest.raises(openai.NotFoundError):
        client(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                            extra_headers={"X-Session-ID": "no-such-session"})
