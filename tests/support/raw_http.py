"""Raw HTTP/1.1 over a socket, for tests of what a library client would never send (stalls, broken chunks)."""

from __future__ import annotations

import json
import socket


def raw_exchange(port: int, request: bytes) -> tuple[bytes, dict]:
    """Sends raw bytes, reads one JSON answer (the socket's 10 s timeout fails a hang); (head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, json.loads(body)


def chunked_post(port: int, path: str, content_type: str, chunks: bytes, request_id: str) -> tuple[bytes, dict]:
    """POSTs `chunks` as the raw chunked-encoded body (possibly broken) and reads the JSON answer."""
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"
            f"X-Request-ID: {request_id}\r\n\r\n")
    return raw_exchange(port, head.encode() + chunks)


def stalled_post(port: int, path: str, content_type: str, request_id: str) -> tuple[bytes, dict]:
    """POSTs headers promising a 100-byte body, sends one byte of it and stops; reads the JSON answer."""
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n"
            f"X-Request-ID: {request_id}\r\n\r\n{{")
    return raw_exchange(port, head.encode())


def assert_bad_request(head: bytes, body: dict, request_id: str) -> None:
    """The contract's 400: JSON error shape, the caller's request id, and Server-Timing."""
    assert head.startswith(b"HTTP/1.1 400"), head
    assert f"X-Request-ID: {request_id}".encode() in head and b"Server-Timing: total;dur=" in head
    assert body["error"]["code"] == "bad_request" and body["error"]["request_id"] == request_id
