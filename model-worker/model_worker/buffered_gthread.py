"""gunicorn's gthread worker whose threads only ever get whole requests: each connection's request head and body are
read without blocking in the worker's main poller loop (`request_buffer.RequestBuffer`, with its deadlines) and a
connection goes to a thread once its request is buffered, as nginx buffers requests before its upstream sees them.

gthread reads a request's head and body inside one of its threads, on a blocking socket: 100 clients trickling
headers or bodies held all 16 threads, and a new client's /healthz waited a minute and more. Here a trickling
client holds a poller entry and a buffer (the head: at most 64 KiB; a body beyond 256 KiB: a temporary file).

The thread's parser is gunicorn's own: it reads the buffered bytes through `ReplaySocket.recv` and never the network,
so a thread never waits for a client. What each connection goes through:
- accepted, or kept alive and readable again: buffered in the poller. Nothing within `keepalive` (5 s) of a new
  connection: closed, as gthread closes idle kept-alive ones.
- the head stops arriving (no byte for BODY_TIMEOUT_S, or slower than 16 KiB/s after it): closed without an answer.
  A head gunicorn rejects (414, 431, a malformed line or header: 400, 417, 501) goes to a thread at once, where
  gunicorn rejects it again and `JsonErrors` answers; a head over 64 KiB likewise, answered 431.
- a Content-Length over the worker's largest body (`WorkerConfig.max_request_bytes`), or a chunked body that grows
  past it: 413 `payload_too_large` from the poller, before the body is read. `Expect: 100-continue` is answered
  `100 Continue` by the poller once the head is accepted (so gunicorn does not send a second one).
- the body stops arriving: handed to the app as it is, which reads its end early and answers 400 (errors.py).
- a whole request (Content-Length or chunked, with trailers): handed to a thread; bytes the client sent after it
  (pipelining) are the start of the next request, buffered the same way after the answer.
- closing after an answer (gthread's graceful close): half-closed and drained in the poller for at most 2 s, not
  in the main loop blocking on a client that never closes its end.

Pinned to gunicorn 27.0's gthread (TConn, enqueue_req, finish_request, murder_pending, handle_request and the
Request parser's `_expected_100_continue`); tests/worker/test_request_buffer_unit.py checks they are there.
No TLS and no HTTP/2 (the model-worker serves neither): `init_process` refuses them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
import socket
import time
import uuid
from functools import partial
from http import HTTPStatus
from typing import BinaryIO

from gunicorn import util
from gunicorn.http import errors as gerrors
from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, TConn, ThreadWorker

from .request_buffer import MAX_HEAD_BYTES, RequestBuffer, Verdict

READ_BYTES = 256 * 1024
LINGER_S = 2.0  # gunicorn's util.close_graceful: how long a closing connection is drained
LINGER_MAX_BYTES = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HeadTooLarge(gerrors.LimitRequestHeaders):
    """What gunicorn's parser meets after a head that did not end within MAX_HEAD_BYTES: it answers 431."""

    def __init__(self) -> None:
        super().__init__(f"request head over {MAX_HEAD_BYTES} bytes")


class ReplaySocket(socket.socket):
    """The client socket as a thread sees it: `recv` replays the buffered request and then ends (or raises
    `replay_end`); writes go to the network, with blocking mode bounded by `blocking_timeout_s`."""

    blocking_timeout_s: float = 30.0

    @classmethod
    def adopt(cls, sock: socket.socket, blocking_timeout_s: float) -> ReplaySocket:
        """Move `sock`'s file descriptor into a ReplaySocket, non-blocking (the poller reads it)."""
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.blocking_timeout_s = blocking_timeout_s
        adopted.start_replay(None, 0)
        super(ReplaySocket, adopted).setblocking(False)
        return adopted

    def start_replay(self, source: BinaryIO | None, size: int, end: BaseException | None = None) -> None:
        self.replay_source, self.replay_left, self.replay_end = source, size, end

    def setblocking(self, flag: bool) -> None:
        if flag:  # a thread is about to answer: a client that stops reading holds it this long at most
            self.settimeout(self.blocking_timeout_s)
        else:
            super().setblocking(False)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.replay_left and self.replay_source is not None:
            data = self.replay_source.read(min(bufsize, self.replay_left))
            self.replay_left = self.replay_left - len(data) if data else 0
            return data
        if self.replay_end is not None:
            raise self.replay_end
        return b""

    def recv_from_network(self, bufsize: int) -> bytes:
        return super().recv(bufsize)


class BufferedConn(TConn):
    """gthread's connection with the request being buffered, and a graceful close done by the poller."""

    def __init__(self, cfg, sock, client, server, linger) -> None:
        super().__init__(cfg, sock, client, server)
        self.linger = linger
        self.request: RequestBuffer | None = None
        self.surplus = b""
        self.continue_sent = False
        self.data_ready = True  # gthread's handle() would otherwise wait up to 5 s for bytes the poller took

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.linger(self.sock)
        else:
            util.close(self.sock)


class BufferingThreadWorker(ThreadWorker):
    """gthread with request buffering in the poller (see the module's docstring); `rejection` renders the 413."""

    read_timeout_s: float = 30.0
    max_body_bytes: int = 64 * 1024 * 1024

    def rejection(self, status: int, message: str, request_id: str) -> bytes:
        """The poller's own answer (413), whole: a JSON error; `JsonErrorBufferingWorker` sends the contract's, with
        its headers (X-Request-ID, Server-Timing)."""
        body = json.dumps({"error": {"code": "payload_too_large", "message": message, "request_id": request_id}})
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n")
        return (head + body).encode()

    def init_process(self) -> None:
        if self.cfg.is_ssl or self.cfg.http2_cleartext != "off":
            raise RuntimeError("the model-worker's buffering gthread worker serves plain HTTP/1.1 only")
        self.buffering: set[BufferedConn] = set()
        self.lingering: dict[socket.socket, list[float]] = {}  # socket -> [deadline, bytes it may still drain]
        super().init_process()

    # -- gthread's entry points -------------------------------------------------------------------------------
    def accept(self, listener) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        sock = ReplaySocket.adopt(client, self.read_timeout_s)
        self.buffer_request(BufferedConn(self.cfg, sock, address, listener.getsockname(), self.linger), b"")

    def enqueue_req(self, conn: BufferedConn) -> None:
        """gthread's hand-off to a thread, called for a kept-alive connection that is readable again and for one
        whose parser holds the start of a pipelined request: both are buffered first."""
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        self.buffer_request(conn, leftover)

    def handle(self, conn: BufferedConn):
        """In the thread: gthread's handling of the replayed request; bytes after it go back to the parser, so that
        gthread's finish_request buffers the next request instead of waiting for the socket to be readable."""
        try:
            keepalive = super().handle(conn)
            if keepalive is True and conn.surplus:
                conn.parser.unreader.unread(conn.surplus)
            return keepalive
        finally:
            conn.surplus = b""
            if conn.request is not None:
                conn.request.close()

    def handle_request(self, req, conn: BufferedConn):
        if conn.continue_sent:
            req._expected_100_continue = False  # the poller sent it (gunicorn 27's flag, read by wsgi.create)
        return super().handle_request(req, conn)

    def murder_pending(self) -> None:
        """Run by gthread's loop about once a second: also ends buffered requests and lingering closes whose time
        is up (and, when the worker stops, connections that have not started a request)."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.buffering if c.request.deadline <= now or not (self.alive or c.request.started)]:
            if conn.request.in_body:
                self.hand_over(conn)  # the app reads a body that ends early and answers 400
            else:
                self.drop(conn)
        for sock in [s for s, (deadline, _) in self.lingering.items() if deadline <= now]:
            self.end_linger(sock)

    # -- buffering --------------------------------------------------------------------------------------------
    def buffer_request(self, conn: BufferedConn, initial: bytes) -> None:
        now = time.monotonic()
        conn.sock.setblocking(False)
        conn.continue_sent = False
        conn.request = RequestBuffer(self.cfg, conn.client, max_body_bytes=self.max_body_bytes, now=now,
                                     idle_timeout_s=self.cfg.keepalive or DEFAULT_WORKER_DATA_TIMEOUT,
                                     timeout_s=self.read_timeout_s)
        self.buffering.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))
        if initial:
            self.advance(conn, conn.request.feed(initial, now))

    def on_readable(self, conn: BufferedConn, _sock) -> None:
        try:
            data = conn.sock.recv_from_network(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data and conn.request.in_body:  # the client closed its end: the app answers the truncated body
            self.hand_over(conn)
        elif not data:
            self.drop(conn)
        else:
            self.advance(conn, conn.request.feed(data, time.monotonic()))

    def advance(self, conn: BufferedConn, verdict: Verdict) -> None:
        request = conn.request
        if verdict is Verdict.WAITING:
            if request.in_body and request.expects_continue and not conn.continue_sent:
                conn.continue_sent = True
                with contextlib.suppress(OSError):
                    conn.sock.send(CONTINUE)
        elif verdict is Verdict.BODY_TOO_LARGE:
            self.reject_too_large(conn)
        else:
            self.hand_over(conn, HeadTooLarge() if verdict is Verdict.HEAD_TOO_LARGE else None)

    def stop_buffering(self, conn: BufferedConn) -> None:
        self.buffering.discard(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def hand_over(self, conn: BufferedConn, end: BaseException | None = None) -> None:
        """To a thread, with what is buffered (all of a whole request; a truncated or refused one ends early)."""
        self.stop_buffering(conn)
        source, size = conn.request.replay()
        conn.sock.start_replay(source, size, end)
        conn.surplus = conn.request.surplus
        super().enqueue_req(conn)

    def drop(self, conn: BufferedConn, drain_bytes: int = LINGER_MAX_BYTES) -> None:
        """Closed without an answer (idle, or a head that stopped arriving), or after the poller's own 413."""
        self.stop_buffering(conn)
        conn.request.close()
        self.nr_conns -= 1
        self.linger(conn.sock, drain_bytes)

    def reject_too_large(self, conn: BufferedConn) -> None:
        request_id = uuid.uuid4().hex
        limit = self.max_body_bytes
        self.log.warning("Request body over %d bytes from ip=%s request_id=%s: answered 413", limit,
                         (conn.client or ("",))[0], request_id)
        payload = self.rejection(413, f"The request body is larger than this server accepts ({limit} bytes); "
                                      "send a smaller file.", request_id)
        with contextlib.suppress(OSError):
            conn.sock.send(payload)  # a few hundred bytes: the socket's send buffer takes them at once
        self.drop(conn, drain_bytes=limit)  # a client that sends its body before reading the answer still gets it

    # -- graceful close, in the poller --------------------------------------------------------------------------
    def linger(self, sock: socket.socket, drain_bytes: int = LINGER_MAX_BYTES) -> None:
        """Half-close and drain until the client closes (at most LINGER_S, LINGER_MAX_BYTES): the answer is not cut
        by a reset from unread bytes, and no thread or loop waits for it."""
        try:
            sock.shutdown(socket.SHUT_WR)
            socket.socket.setblocking(sock, False)
            self.poller.register(sock, selectors.EVENT_READ, self.on_lingering_readable)
        except (OSError, ValueError, KeyError):
            util.close(sock)
            return
        self.lingering[sock] = [time.monotonic() + LINGER_S, drain_bytes]

    def on_lingering_readable(self, sock: socket.socket) -> None:
        try:
            data = socket.socket.recv(sock, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        entry = self.lingering[sock]
        entry[1] -= len(data)
        if not data or entry[1] <= 0:
            self.end_linger(sock)

    def end_linger(self, sock: socket.socket) -> None:
        self.lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        util.close(sock)
