"""The llm-api's real-time relay, its pure parts: the upgrade check, the request passed on, the service's head."""

from __future__ import annotations

import socket

import pytest

from llm_api.config import ConfigError, load_config
from llm_api.errors import BackendError, BadRequest
from llm_api.realtime import TAKEN_OVER, TakeOverMiddleware, Upstream, check_upgrade, read_head, upstream_request

UPGRADE = {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_an_upgrade_passes_and_anything_else_says_what_is_missing():
    check_upgrade(UPGRADE)
    with pytest.raises(BadRequest, match="connect with a WebSocket client"):
        check_upgrade({**UPGRADE, "Upgrade": "h2c"})
    with pytest.raises(BadRequest, match="connect with a WebSocket client"):
        check_upgrade({**UPGRADE, "Connection": "keep-alive"})
    with pytest.raises(BadRequest, match="Sec-WebSocket-Version: 13"):
        check_upgrade({**UPGRADE, "Sec-WebSocket-Version": "8"})
    with pytest.raises(BadRequest, match="Sec-WebSocket-Key"):
        check_upgrade({k: v for k, v in UPGRADE.items() if k != "Sec-WebSocket-Key"})
    for key in ("abc", "not base64 at all!", "AAAA"):  # the service would refuse them: the caller's fault, 400 here
        with pytest.raises(BadRequest, match="16 random bytes in base64"):
            check_upgrade({**UPGRADE, "Sec-WebSocket-Key": key})


def test_the_request_passed_on_keeps_the_handshake_and_drops_the_key():
    upstream = Upstream.from_url("http://realtime:8998")
    raw = upstream_request(upstream, "/api/chat", "a=1", {**UPGRADE, "Authorization": "Bearer secret",
                                                            "Host": "localhost:8080", "Origin": "http://x",
                                                            "X-Forwarded-For": "6.6.6.6"}, "10.0.0.5", "rid-1")
    text = raw.decode()
    assert text.startswith("GET /api/chat?a=1 HTTP/1.1\r\nHost: realtime:8998\r\n") and text.endswith("\r\n\r\n")
    assert "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in text and "Upgrade: websocket" in text
    assert "Origin: http://x" in text and "X-Forwarded-For: 10.0.0.5" in text and "X-Request-ID: rid-1" in text
    assert "secret" not in text and "6.6.6.6" not in text and "localhost:8080" not in text


def test_the_service_head_and_what_follows_it():
    left, right = socket.socketpair()
    with left, right:
        right.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82\x01\x00")
        status, head, rest = read_head(left)
    assert status == 101 and head.endswith(b"\r\n\r\n") and rest == b"\x82\x01\x00"
    left, right = socket.socketpair()
    with left, right:
        right.sendall(b"HTTP/1.1 101")
        right.shutdown(socket.SHUT_WR)
        with pytest.raises(BackendError, match="closed the connection during the WebSocket handshake"):
            read_head(left)


def test_a_taken_over_connection_is_not_answered():
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        environ[TAKEN_OVER] = environ["take"]
        return Body([b"x"])

    middleware = TakeOverMiddleware(app)
    assert middleware({"take": False}, None) == [b"x"]
    with pytest.raises(StopIteration):
        middleware({"take": True}, None)
    assert closed == [True]


def test_realtime_url_is_http_or_none():
    base = {"DATABASE_PATH": "/tmp/x.sqlite3"}
    assert load_config(base).realtime_url == "http://realtime:8998"
    assert load_config({**base, "REALTIME_URL": "none"}).realtime_url is None
    with pytest.raises(ConfigError, match="REALTIME_URL must be an http:// URL"):
        load_config({**base, "REALTIME_URL": "https://realtime:8998"})
