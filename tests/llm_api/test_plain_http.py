"""The hot path to Ollama (`llm_api/plain_http.py`): kept-alive connections are reused after whole answers and
complete streams, closed when a stream is abandoned (so Ollama stops generating), and an idle connection the backend
closed meanwhile is replaced, not used."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from llm_api.ollama import OllamaClient
from llm_api.schemas import ChatOptions
from llm_api.upstream import http_session
from tests.doubles.ollama_double import OllamaDouble
from tests.support.raw_backend import backend

MODEL = "qwen2.5:0.5b"
HELLO = [{"role": "user", "content": "hello there"}]


def client(url: str) -> OllamaClient:
    return OllamaClient(url, http_session(), read_timeout_s=10)


def idle_sockets(ollama: OllamaClient) -> list[socket.socket]:
    return [conn.sock for conn in ollama.upstream.plain._idle]


def test_whole_answers_reuse_one_connection():
    with OllamaDouble(models=[MODEL]) as double:
        ollama = client(double.url)
        answers = [ollama.chat(MODEL, HELLO, ChatOptions(), "rid")[0] for _ in range(3)]
        first = idle_sockets(ollama)
        ollama.chat(MODEL, HELLO, ChatOptions(), "rid")
        assert answers == ["You said: hello there (1 messages)"] * 3
        assert len(first) == 1 and idle_sockets(ollama) == first


def test_a_complete_stream_gives_its_connection_back():
    with OllamaDouble(models=[MODEL]) as double:
        ollama = client(double.url)
        kinds = [event.kind for event in ollama.chat_stream(MODEL, HELLO, ChatOptions(), "rid")]
        assert kinds[-1] == "done" and kinds.count("token") == 6  # "You said: hello there (1 messages)"
        assert len(idle_sockets(ollama)) == 1


def test_an_abandoned_stream_closes_its_connection_and_ollama_stops():
    with OllamaDouble(models=[MODEL], token_delay_s=0.05) as double:
        ollama = client(double.url)
        events = ollama.chat_stream(MODEL, HELLO, ChatOptions(), "rid")
        assert next(events).kind == "token"
        events.close()  # the llm-api's client went away
        assert idle_sockets(ollama) == []
        deadline = time.monotonic() + 5
        while double.counters["chat_aborted"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert double.counters["chat_aborted"] == 1


@contextmanager
def one_answer_per_connection() -> Iterator[tuple[str, list[int]]]:
    """A backend that answers one request per connection with keep-alive headers, then closes the socket."""
    accepted = [0]

    def answer(conn: socket.socket, _stop: threading.Event) -> None:
        accepted[0] += 1
        body = b'{"version": "0.12.6"}'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))

    with backend(answer) as url:
        yield url, accepted


def test_an_idle_connection_the_backend_closed_is_replaced():
    with one_answer_per_connection() as (url, accepted):
        ollama = client(url)
        assert ollama.version("rid", timeout_s=5) == "0.12.6"
        time.sleep(0.1)  # the backend has closed the kept connection by now
        assert ollama.version("rid", timeout_s=5) == "0.12.6"
        assert accepted[0] == 2


def test_a_refused_connection_is_the_error_requests_would_raise():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: refused
        with pytest.raises(requests.ConnectionError, match="ConnectionRefusedError"):
            client(url).upstream.plain.request("GET", "/api/version", (1, 1), {})
