"""The way from the browser to the real-time voice service (`realtime/`): its status, and its WebSocket.

The llm-api is the stack's one public API, so the WebSocket passes here too and gets the same rules as every other
route: `API_KEY` as a Bearer token (before_request in app.py), browser origins from `CORS_ORIGINS` (a WebSocket has
no CORS preflight: a cross-site page could open one with the user's network position, so an `Origin` that is not
listed is 403 here), request ids, metrics and logs. The web server passes `/realtime/*` upgrades on to this.

Once the request is checked, the upgrade goes to the service as it came (its `Sec-WebSocket-Key`, extensions and
protocol), and after the service's `101` the bytes are relayed both ways untouched until either side closes: the
llm-api neither parses nor buffers the frames, so the latency it adds is a socket copy. Under gunicorn's gevent
worker each relay is two greenlets; the service's own limits (conversations, idle and total time) bound them.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from .config import CONNECT_TIMEOUT_S, PROBE_TIMEOUT_S
from .errors import BackendError, BackendUnavailable, BadRequest

log = logging.getLogger("llm_api.realtime")

START_HINT = "start it with `docker compose --profile realtime up -d`"
SWITCHED_OFF = ("The real-time voice service is switched off here (REALTIME_URL=none); set REALTIME_URL and "
                f"{START_HINT}.")
STATUS_FIELDS = ("status", "model", "device", "conversations", "sample_rate", "frame_ms", "progress")
MAX_HEAD_BYTES = 16 * 1024
RELAY_CHUNK = 64 * 1024
# Request headers that describe this hop, not the request: never passed on (the key stays in the llm-api).
NOT_FORWARDED = {"host", "authorization", "x-forwarded-for", "x-forwarded-proto", "x-request-id", "content-length",
                 "transfer-encoding", "proxy-authorization", "te", "trailer", "keep-alive"}
TAKEN_OVER = "llm_api.connection_taken_over"


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    base_path: str

    @classmethod
    def from_url(cls, url: str) -> Upstream:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError("REALTIME_URL must be an http:// URL (the service is on the stack's internal network)")
        return cls(parts.hostname or "", parts.port or 80, parts.path.rstrip("/"))


class RealtimeClient:
    """The service at `REALTIME_URL`: its state (`/readyz`) and a checked WebSocket upgrade to it."""

    def __init__(self, url: str, http: requests.Session):
        self.url = url
        self.http = http
        self.upstream = Upstream.from_url(url)

    def not_running(self, exc: Exception) -> BackendUnavailable:
        log.warning("the real-time voice service at %s cannot be reached: %s", self.url, exc)
        return BackendUnavailable(f"The real-time voice service is not running at {self.url}: {START_HINT}.",
                                  retry_after=5)

    def status(self, request_id: str) -> tuple[int, dict]:
        """(200 ready or 503 loading, the status fields); ApiError when not running or its model failed."""
        try:
            answer = self.http.get(f"{self.url}/readyz", timeout=(CONNECT_TIMEOUT_S, PROBE_TIMEOUT_S),
                                   headers={"X-Request-ID": request_id})
            body = answer.json()
        except requests.RequestException as exc:
            raise self.not_running(exc) from None
        except ValueError:
            raise BackendError("The real-time voice service's /readyz is not JSON; see its log.") from None
        if not isinstance(body, dict) or body.get("status") not in ("ready", "loading", "error"):
            raise BackendError("The real-time voice service's /readyz has no status; see its log.")
        if body["status"] == "error":
            raise BackendUnavailable(f"The real-time voice model failed to load: {body.get('error', 'see its log')}.")
        return (200 if body["status"] == "ready" else 503), {k: body[k] for k in STATUS_FIELDS if k in body}

    def open(self, headers: Mapping[str, str], query: str, client: str, request_id: str) -> tuple[socket.socket,
                                                                                                 bytes]:
        """The service's socket after its `101`, and the bytes to pass on first (its head and what followed)."""
        try:
            sock = socket.create_connection((self.upstream.host, self.upstream.port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise self.not_running(exc) from None
        try:
            sock.sendall(upstream_request(self.upstream, "/api/chat", query, headers, client, request_id))
            code, head, rest = read_head(sock)
        except OSError as exc:
            sock.close()
            raise self.not_running(exc) from None
        except BackendError:
            sock.close()
            raise
        if code != 101:
            sock.close()
            raise BackendError(f"The real-time voice service refused the WebSocket with HTTP {code}; see its log.")
        return sock, head + rest


def check_upgrade(headers: Mapping[str, str]) -> None:
    """A WebSocket opening handshake (RFC 6455 section 4.1), or 400 saying what is missing."""
    if headers.get("Upgrade", "").lower() != "websocket" or \
            "upgrade" not in {t.strip().lower() for t in headers.get("Connection", "").split(",")}:
        raise BadRequest("this is the real-time voice WebSocket: connect with a WebSocket client "
                         "(Upgrade: websocket); GET /realtime/status tells whether the service is running")
    if headers.get("Sec-WebSocket-Version", "") != "13" or not _valid_key(headers.get("Sec-WebSocket-Key", "")):
        raise BadRequest("a WebSocket upgrade needs Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key "
                         "(16 random bytes in base64, RFC 6455)")


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:
        return False


def upstream_request(upstream: Upstream, path: str, query: str, headers: Mapping[str, str], client: str,
                     request_id: str) -> bytes:
    target = upstream.base_path + path + (f"?{query}" if query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {upstream.host}:{upstream.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in NOT_FORWARDED]
    lines += [f"X-Forwarded-For: {client}", f"X-Request-ID: {request_id}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_head(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """The upstream's response head (status, raw head) and whatever bytes came after it."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk or len(buffer) > MAX_HEAD_BYTES:
            raise BackendError("the real-time voice service closed the connection during the WebSocket handshake")
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise BackendError("the real-time voice service answered the WebSocket handshake with garbage") from None
    return status, head + b"\r\n\r\n", rest


def _copy(source: socket.socket, target: socket.socket, counted: list[int], index: int) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(RELAY_CHUNK):
            target.sendall(chunk)
            counted[index] += len(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)  # pass the end on: the other side sees its peer close


def relay(client: socket.socket, upstream: socket.socket, first: bytes, request_id: str) -> None:
    """Copy bytes both ways until both directions end; `first` (read with the head) goes to the client first."""
    counted = [0, 0]
    started = time.monotonic()
    for sock in (client, upstream):
        sock.settimeout(None)  # the service's idle and total limits bound a conversation, not a socket timeout
        with contextlib.suppress(OSError):  # 80 ms frames of a few hundred bytes: never wait to coalesce them
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if first:
            client.sendall(first)
        down = threading.Thread(target=_copy, args=(upstream, client, counted, 1), daemon=True)
        down.start()
        _copy(client, upstream, counted, 0)
        down.join()
    finally:
        with contextlib.suppress(OSError):
            upstream.close()
    log.info("realtime relay ended after %.1f s: %d bytes up, %d down request_id=%s",
             time.monotonic() - started, counted[0], counted[1] + len(first), request_id)


class TakeOverMiddleware:
    """WSGI middleware: after a view relayed a WebSocket on gunicorn's socket (and set `environ[TAKEN_OVER]`), the
    response is not written: StopIteration is gunicorn's signal to close the connection without answering."""

    def __init__(self, app: Callable):
        self.app = app

    def __call__(self, environ, start_response):
        response = self.app(environ, start_response)
        if environ.get(TAKEN_OVER):
            if hasattr(response, "close"):
                response.close()
            raise StopIteration
        return response
