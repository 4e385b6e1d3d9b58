"""A raw HTTP backend on loopback for tests of the llm-api's upstream reader: it reads one request per connection,
one connection at a time, and runs the test's `behaviour` on the socket (garbage, floods, drips, closes)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Behaviour = Callable[[socket.socket, threading.Event], None]


@contextmanager
def backend(behaviour: Behaviour) -> Iterator[str]:
    """A one-connection-at-a-time HTTP server on 127.0.0.1 that reads a request and runs `behaviour` on the socket."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    behaviour(conn, stop)
                except OSError:
                    pass  # the client gave up: what the tests want

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        server.close()
