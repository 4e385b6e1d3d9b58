"""Plain-HTTP requests to a backend on kept-alive `http.client` connections: the hot path to Ollama.

`requests` costs about 0.4 ms of CPU per call on top of `urllib3`, and `urllib3` another 0.1 ms on top of
`http.client` (measured under gevent, see benchmarks/gateway_vs_litellm.py): together more than the rest of a proxied
chat. A JSON or bodiless request to an `http://` backend therefore goes over a small pool of `http.client`
connections; uploads (multipart) and `https://` backends (certifi's CA bundle, `REQUESTS_CA_BUNDLE`) stay on the
shared `requests.Session`. `http.client` still parses the status line, headers and chunked framing, with its limits.

A connection goes back to the pool when its response was read to the end and neither side asked to close it; one
whose response is closed early is closed (so a backend stops generating for a client that left). Before an idle
connection is reused, a non-blocking peek checks that the server has not closed it meanwhile.

Failures are raised as the exceptions the `requests` path raises: `requests.ConnectTimeout`, `ConnectionError`,
`ReadTimeout` while sending and waiting for the status line; urllib3's `ReadTimeoutError` and `ProtocolError` while
reading the body. The answer has the part of `requests.Response` the clients use (`status_code`, `headers`, `raw`
with `read1` and `connection`, `text`, `json()`, `close()`), so both paths look the same to `Upstream`.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError


def _alive(sock: socket.socket) -> bool:
    """An idle kept-alive socket the server has not closed: nothing to read on it, neither EOF nor stray bytes."""
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0)
        sock.recv(1, socket.MSG_PEEK)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)


class PlainResponse:
    """A backend's answer, body unread. Reading it to the end returns the connection to its pool."""

    def __init__(self, response: http.client.HTTPResponse, conn: http.client.HTTPConnection, pool: PlainHttp):
        self._response = response
        self._conn: http.client.HTTPConnection | None = conn
        self._pool = pool
        self.raw = self  # `response.raw.read1(...)`, as on requests' responses
        self.status_code = response.status
        self.headers = response.headers
        self.read_timeout_s: float | None = None
        self.answer_deadline: float | None = None

    @property
    def connection(self) -> http.client.HTTPConnection | None:
        """The connection while this response holds it (None once it is back in the pool or closed)."""
        return self._conn

    def read1(self, amount: int) -> bytes:
        try:
            data = self._response.read1(amount)
        except TimeoutError:
            self.close()
            raise ReadTimeoutError(None, "", "read timed out") from None  # type: ignore[arg-type]
        except (http.client.HTTPException, OSError) as exc:
            self.close()
            raise ProtocolError(f"the body is malformed or cut ({type(exc).__name__})") from None
        if not data:  # the end of the body (http.client leaves a fully read Content-Length body open)
            self._response.close()
            self._release()
        return data

    @property
    def content(self) -> bytes:
        chunks = []
        try:
            while data := self.read1(65536):
                chunks.append(data)
        except ReadTimeoutError as exc:
            raise requests.ReadTimeout(str(exc)) from None
        except ProtocolError as exc:
            raise requests.ConnectionError(str(exc)) from None
        return b"".join(chunks)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.put(conn, reusable=not self._response.will_close)

    def close(self) -> None:
        """Closes the connection unless the whole body was read (then it is back in the pool already)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._response.close()
            conn.close()


class PlainHttp:
    """Kept-alive connections to one `http://` base URL, shared by the greenlets of one process."""

    def __init__(self, base_url: str, pool_size: int = 100):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "localhost", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.pool_size = pool_size
        self._idle: list[http.client.HTTPConnection] = []

    def _take(self) -> http.client.HTTPConnection:
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return http.client.HTTPConnection(self.host, self.port)
            if conn.sock is not None and _alive(conn.sock):
                return conn
            conn.close()

    def put(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if reusable and conn.sock is not None and len(self._idle) < self.pool_size:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def request(self, method: str, path: str, timeout: tuple[float, float], headers: dict[str, str],
                json_body: Any = None) -> PlainResponse:
        body = None
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers = {"Content-Type": "application/json", **headers}
        conn = self._take()
        if conn.sock is None:
            self._connect(conn, timeout[0])
        try:
            conn.sock.settimeout(timeout[1])
            conn.request(method, self.prefix + path, body, headers)
            response = conn.getresponse()
        except TimeoutError as exc:
            conn.close()
            raise requests.ReadTimeout(str(exc)) from None
        except (http.client.HTTPException, OSError) as exc:  # dropped, or not HTTP: as urllib3's ProtocolError
            conn.close()
            raise requests.ConnectionError(f"{type(exc).__name__}: {exc}") from None
        return PlainResponse(response, conn, self)

    @staticmethod
    def _connect(conn: http.client.HTTPConnection, timeout_s: float) -> None:
        conn.timeout = timeout_s
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise requests.ConnectTimeout(str(exc)) from None
        except OSError as exc:
            conn.close()
            raise requests.ConnectionError(f"{type(exc).__name__}: {exc}") from None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
