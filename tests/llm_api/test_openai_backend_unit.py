"""The OpenAI-compatible backend client against a raw HTTP server on loopback that answers what real backends
answer when things go wrong: refused keys, rate limits, 5xx, malformed or endless event streams, stalls. Each ends
in the contract's error; the key never appears in an error message; discovery is cached and bounded."""

from __future__ import annotations

import json
import socket
import time

import pytest

from llm_api.config import ConfigError, OpenAIBackendConfig, load_config
from llm_api.errors import ApiError, BackendError, BackendTimeout, BackendUnavailable, ModelNotFound
from llm_api.openai_backend import OpenAIBackend, openai_timings
from llm_api.schemas import ChatOptions
from llm_api.upstream import AnswerLimits, http_session
from tests.llm_api.test_upstream_garbage import backend, chunk, chunked

KEY = "sk-secret-key-0123456789"


def client(url: str, read_timeout_s: float = 5, models: tuple[str, ...] = (), **limits) -> OpenAIBackend:
    config = OpenAIBackendConfig(name="ext", base_url=url + "/v1", api_key=KEY, models=models)
    return OpenAIBackend(config, http_session(), read_timeout_s, AnswerLimits(**limits))


def answer(status: int, body: dict | str, headers: str = "") -> object:
    data = (body if isinstance(body, str) else json.dumps(body)).encode()

    def behaviour(conn: socket.socket, _stop) -> None:
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     f"{headers}Connection: close\r\n\r\n".encode() + data)
    return behaviour


def sse(*events: bytes, end: bool = True):
    def behaviour(conn: socket.socket, _stop) -> None:
        chunked(conn, "text/event-stream")
        for event in events:
            chunk(conn, event)
        if end:
            conn.sendall(b"0\r\n\r\n")
    return behaviour


def delta(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


def ask(backend_client: OpenAIBackend, stream: bool):
    options = ChatOptions(temperature=0.1, max_tokens=5)
    messages = [{"role": "user", "content": "hi"}]
    if stream:
        return list(backend_client.chat_stream("m", messages, options, "rid"))
    return backend_client.chat("m", messages, options, "rid")


def raised(backend_client: OpenAIBackend, stream: bool) -> ApiError:
    with pytest.raises(ApiError) as caught:
        ask(backend_client, stream)
    assert KEY not in caught.value.message
    return caught.value


@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_key_is_a_502_naming_the_variable_not_the_key(stream):
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    with backend(answer(401, body)) as url:
        err = raised(client(url), stream)
    assert isinstance(err, BackendError) and err.status == 502
    assert "OPENAI_BACKEND_EXT_API_KEY" in err.message


def test_a_rate_limit_is_503_with_the_backends_retry_after():
    with backend(answer(429, {"error": {"message": "slow down"}}, "Retry-After: 17\r\n")) as url:
        err = raised(client(url), False)
    assert isinstance(err, BackendUnavailable) and err.retry_after == 17 and "rate-limiting" in err.message


def test_a_5xx_is_503_and_an_unknown_model_is_404():
    with backend(answer(500, "<html>boom</html>")) as url:
        assert isinstance(raised(client(url), True), BackendUnavailable)
    with backend(answer(404, {"error": {"message": "model 'm' not found"}})) as url:
        err = raised(client(url), False)
    assert isinstance(err, ModelNotFound) and "ext" in err.message


def test_a_stream_is_tokens_then_done_with_usage_and_llamacpp_timings():
    usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2},
             "timings": {"predicted_per_second": 41.5, "prompt_ms": 3.0, "predicted_ms": 48.0}}
    final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    events = [b": keep-alive comment\n\n", delta("Hel"), delta("lo"), b"data: " + json.dumps(final).encode() + b"\n\n",
              b"data: " + json.dumps(usage).encode() + b"\n\n", b"data: [DONE]\n\n"]
    with backend(sse(*events)) as url:
        got = ask(client(url), True)
    assert [(e.kind, e.text) for e in got] == [("token", "Hel"), ("token", "lo"), ("done", "")]
    done = got[-1]
    assert done.finish_reason == "length"
    assert done.timings["prompt_tokens"] == 7 and done.timings["completion_tokens"] == 2
    assert done.timings["tokens_per_s"] == 41.5 and done.timings["total_ms"] == 51.0


def test_an_event_split_across_chunks_and_crlf_lines_still_parse():
    event = delta("joined").replace(b"\n", b"\r\n")
    with backend(sse(event[:9], event[9:], b"data: [DONE]\r\n\r\n")) as url:
        got = ask(client(url), True)
    assert [e.text for e in got if e.kind == "token"] == ["joined"]


@pytest.mark.parametrize(("events", "expected"), [
    ([b"data: {not json\n\n"], "not a JSON object"),
    ([delta("a")], "before [DONE]"),
    ([b"data: {\"error\": {\"message\": \"GPU fell off\"}}\n\n"], "GPU fell off"),
    ([b"data: \xff\xfe\n\n"], "not UTF-8"),
])
def test_malformed_or_cut_streams_are_502(events, expected):
    with backend(sse(*events)) as url:
        err = raised(client(url), True)
    assert isinstance(err, BackendError) and expected in err.message


def test_a_stalled_stream_is_504_and_an_endless_one_ends_at_the_answer_limit():
    def stall(conn, stop):
        chunked(conn, "text/event-stream")
        chunk(conn, delta("x"))
        stop.wait(10)

    with backend(stall) as url:
        assert isinstance(raised(client(url, read_timeout_s=1), True), BackendTimeout)

    def endless(conn, stop):
        chunked(conn, "text/event-stream")
        while not stop.is_set():
            chunk(conn, delta("y"))
            time.sleep(0.01)

    with backend(endless) as url:
        started = time.monotonic()
        assert isinstance(raised(client(url, total_timeout_s=1.0), True), BackendTimeout)
        assert time.monotonic() - started < 5


def test_an_unreachable_backend_fails_discovery_fast_and_the_failure_is_cached():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    ext = client(f"http://127.0.0.1:{port}")
    started = time.monotonic()
    first = ext.discovery("rid", timeout_s=1)
    second = ext.discovery("rid", timeout_s=1)
    assert first.error and "Cannot connect" in first.error and first.models == ()
    assert second is first and time.monotonic() - started < 3


def test_discovery_lists_ids_once_and_pinned_models_replace_the_list_but_not_the_state():
    body = {"object": "list", "data": [{"id": "a"}, {"id": "b"}, {"id": "a"}, {"no": "id"}]}
    with backend(answer(200, body)) as url:
        found = client(url).discovery("rid", timeout_s=2)
    assert found.models == ("a", "b") and found.error is None
    with backend(answer(200, body)) as url:
        pinned = client(url, models=("x",)).discovery("rid", timeout_s=2)
    assert pinned.models == ("x",) and pinned.error is None
    with backend(answer(404, {"error": "no such route"})) as url:
        unlisted = client(url, models=("x",)).discovery("rid", timeout_s=2)
    assert unlisted.models == ("x",) and unlisted.error is None
    dead = client("http://127.0.0.1:9", models=("x",)).discovery("rid", timeout_s=2)
    assert dead.models == ("x",) and dead.error


def test_timings_without_usage_are_none_and_llamacpp_counts_fill_in():
    assert openai_timings(None)["prompt_tokens"] is None
    filled = openai_timings({}, {"prompt_n": 3, "predicted_n": 4})
    assert filled["prompt_tokens"] == 3 and filled["completion_tokens"] == 4


def test_openai_backends_configuration(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    config = load_config({"OPENAI_BACKENDS": "gemini=https://generativelanguage.googleapis.com/v1beta/openai/, "
                                             "vllm=http://vllm:8000/v1",
                          "OPENAI_BACKEND_GEMINI_API_KEY_FILE": str(key_file),
                          "OPENAI_BACKEND_VLLM_MODELS": "qwen, llama"})
    gemini, vllm = config.openai_backends
    assert gemini.base_url == "https://generativelanguage.googleapis.com/v1beta/openai" and gemini.api_key == KEY
    assert vllm.api_key is None and vllm.models == ("qwen", "llama")
    assert KEY not in repr(config)
    assert load_config({"OLLAMA_URL": "none"}).ollama_enabled is False


@pytest.mark.parametrize(("env", "message"), [
    ({"OPENAI_BACKENDS": "Bad Name=http://x"}, "name=https://host/v1"),
    ({"OPENAI_BACKENDS": "a=http://x,a=http://y"}, "twice"),
    ({"OPENAI_BACKENDS": "a=ftp://x"}, "http(s) URL"),
    ({"OPENAI_BACKENDS": "a=http://x", "OPENAI_BACKEND_A_API_KEY": "k", "OPENAI_BACKEND_A_API_KEY_FILE": "/f"},
     "not both"),
    ({"OPENAI_BACKENDS": "a=http://x", "OPENAI_BACKEND_A_API_KEY_FILE": "/nonexistent/key"}, "cannot be read"),
])
def test_bad_backend_configuration_is_one_readable_sentence(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(env)
