"""gunicorn's gthread worker with a read deadline on every client socket.

gthread reads requests on blocking sockets with no deadline: a client that sends part of its headers or body and
stops would hold one of the worker's few threads forever (a handful of them can starve /healthz). Here every
accepted socket is adopted into `DeadlineSocket`, on which gunicorn's `setblocking(True)` means "block, but at
most BODY_TIMEOUT_S" and a read that stalls past it is end-of-stream. gunicorn then drops a request whose
headers stalled, and a stalled body surfaces in the app as gunicorn's NoMoreData, answered 400 (app.py).
"""

from __future__ import annotations

import contextlib
import socket

from gunicorn.workers.gthread import ThreadWorker

from .config import ConfigError, WorkerConfig


class DeadlineSocket(socket.socket):
    """A socket whose blocking mode has a deadline, and on which a read that stalls past it is end-of-stream."""

    read_timeout_s: float = WorkerConfig.body_timeout_s

    @classmethod
    def adopt(cls, sock: socket.socket, read_timeout_s: float) -> DeadlineSocket:
        """Move `sock`'s file descriptor into a DeadlineSocket, keeping its current blocking state."""
        family, kind, proto, timeout = sock.family, sock.type, sock.proto, sock.gettimeout()
        adopted = cls(family, kind, proto, fileno=sock.detach())
        adopted.read_timeout_s = read_timeout_s
        adopted.settimeout(timeout)
        return adopted

    def setblocking(self, flag: bool) -> None:
        if flag:  # gunicorn is about to read a request
            self.settimeout(self.read_timeout_s)
        else:
            super().setblocking(False)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            return b""


class DeadlineThreadWorker(ThreadWorker):
    """`worker_class` for the model-worker: gthread whose client sockets are DeadlineSockets."""

    read_timeout_s: float = WorkerConfig.body_timeout_s

    def init_process(self) -> None:
        with contextlib.suppress(ConfigError):  # a bad value is reported by the app, which stops the server
            self.read_timeout_s = WorkerConfig.from_env().body_timeout_s
        super().init_process()

    def enqueue_req(self, conn) -> None:
        if not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket.adopt(conn.sock, self.read_timeout_s)
        super().enqueue_req(conn)
