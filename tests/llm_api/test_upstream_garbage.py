"""A backend that answers garbage, floods or trickles: the llm-api's upstream reader ends each case with the
contract's error, in bounded time and memory (a raw HTTP server on loopback plays the backend)."""

from __future__ import annotations

import socket
import time

import pytest

from llm_api.errors import ApiError
from llm_api.upstream import MAX_LINE_BYTES, AnswerLimits, Upstream, http_session
from tests.support.raw_backend import backend


def chunked(conn: socket.socket, content_type: str = "application/x-ndjson") -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())


def chunk(conn: socket.socket, data: bytes) -> None:
    conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def upstream(url: str, read_timeout_s: float = 5, **limits) -> Upstream:
    return Upstream("test-backend", url, http_session(), read_timeout_s, AnswerLimits(**limits))


def drain_ndjson(up: Upstream) -> list[dict]:
    response = up.request("POST", "/api/chat", "rid")
    return list(up.ndjson(response, "rid"))


def test_a_one_byte_drip_ends_at_the_whole_answer_limit_not_never():
    """Each byte comes well within the read timeout, so only the whole-answer bound can end it."""
    def drip(conn, stop):
        chunked(conn)
        while not stop.is_set():
            chunk(conn, b" ")
            time.sleep(0.2)

    with backend(drip) as url:
        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            drain_ndjson(upstream(url, read_timeout_s=5, total_timeout_s=1.5))
        elapsed = time.monotonic() - started
    assert caught.value.status == 504 and "UPSTREAM_TOTAL_TIMEOUT_S" in caught.value.message
    assert elapsed < 3


def test_a_never_ending_stream_of_tokens_ends_at_the_whole_answer_limit():
    def endless(conn, stop):
        chunked(conn)
        while not stop.is_set():
            chunk(conn, b'{"message": {"content": "la "}, "done": false}\n')
            time.sleep(0.01)

    with backend(endless) as url:
        up = upstream(url, total_timeout_s=1.0)
        response = up.request("POST", "/api/chat", "rid")
        seen = 0
        with pytest.raises(ApiError) as caught:
            for _ in up.ndjson(response, "rid"):
                seen += 1
    assert caught.value.status == 504 and seen > 10


@pytest.mark.parametrize(("body", "why"), [
    (b"not json at all\n", "invalid NDJSON"),
    (b'["a list, not an object"]\n', "a JSON value that is not an object"),
    (b'{"message": {"content": "\xff\xfe\xfd"}}\n', "bytes that are not UTF-8"),
])
def test_garbage_lines_are_502(body, why):
    def garbage(conn, stop):
        chunked(conn)
        chunk(conn, body)
        chunk(conn, b"")

    with backend(garbage) as url, pytest.raises(ApiError) as caught:
        drain_ndjson(upstream(url))
    assert caught.value.status == 502, why


def test_an_over_long_line_is_502_after_reading_about_the_limit_only():
    sent = {"bytes": 0}

    def flood(conn, stop):
        chunked(conn)
        piece = b"x" * 65536
        while not stop.is_set() and sent["bytes"] < 4 * MAX_LINE_BYTES:
            chunk(conn, piece)
            sent["bytes"] += len(piece)

    with backend(flood) as url:
        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            drain_ndjson(upstream(url))
        elapsed = time.monotonic() - started
    assert caught.value.status == 502 and "over-long line" in caught.value.message
    assert elapsed < 10  # linear in the line, not quadratic


def test_a_huge_non_streamed_answer_is_502_without_holding_it_all():
    limit = 2 * 1024 * 1024

    def huge(conn, stop):
        size = 1024**3  # claims a 1 GiB body and starts sending it
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())
        piece = b"[" + b"1," * 32767
        for _ in range(size // len(piece)):
            if stop.is_set():
                return
            conn.sendall(piece)

    with backend(huge) as url:
        up = upstream(url, max_body_bytes=limit)
        response = up.request("GET", "/api/tags", "rid")
        with pytest.raises(ApiError) as caught:
            up.read_json(response, "rid")
    assert caught.value.status == 502 and "MAX_UPSTREAM_MB" in caught.value.message


def test_a_backend_that_stops_sending_is_504_after_the_read_timeout():
    def stall(conn, stop):
        chunked(conn)
        chunk(conn, b'{"message": {"content": "Hel"}, "done": false}\n')
        stop.wait(10)

    with backend(stall) as url:
        up = upstream(url, read_timeout_s=0.5)
        response = up.request("POST", "/api/chat", "rid")
        lines = up.ndjson(response, "rid")
        assert next(lines)["message"]["content"] == "Hel"
        with pytest.raises(ApiError) as caught:
            next(lines)
    assert caught.value.status == 504 and "UPSTREAM_TIMEOUT_S" in caught.value.message
