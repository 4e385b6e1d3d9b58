"""Resource-exhaustion attacks on a service on loopback, bounded in count and time: idle sockets, slow headers, slow
bodies, 64 KiB headers and floods of tiny requests, while a new client's `/healthz` is timed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import requests

HEALTHZ_BUDGET_S = 1.0


def healthz_seconds(url: str) -> float:
    """One fresh client's `/healthz`, timed (a new connection each time: what a newcomer meets)."""
    started = time.perf_counter()
    response = requests.get(url + "/healthz", timeout=10, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


@contextmanager
def held_sockets(port: int, count: int, first_bytes: bytes = b"") -> Iterator[list[socket.socket]]:
    """`count` connections that send `first_bytes` (nothing: idle; a partial head: slow headers; a head with a
    Content-Length and no body: slow body) and then nothing more, held open until the block ends."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            if first_bytes:
                sock.sendall(first_bytes)
            sockets.append(sock)
        yield sockets


SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
SLOW_BODY = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
HUGE_HEADER = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"


def huge_header_status(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(HUGE_HEADER)
        head = sock.recv(65536)
    return int(head.split(b" ", 2)[1])


def flood(url: str, seconds: float, threads: int = 4) -> int:
    """Tiny requests as fast as `threads` clients can send them for `seconds`; returns how many were answered."""
    stop = time.monotonic() + seconds
    answered = [0] * threads

    def client(index: int) -> None:
        with requests.Session() as http:
            while time.monotonic() < stop:
                http.get(url + "/healthz", timeout=10)
                answered[index] += 1

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 20)
    return sum(answered)


HELD = {"idle": ("600 idle sockets", b"", 600), "slow_headers": ("100 slow headers", SLOW_HEADERS, 100),
        "slow_bodies": ("100 slow bodies", SLOW_BODY, 100)}


def check_held_sockets(url: str, port: int, attacks=tuple(HELD)) -> dict[str, float]:
    """A fresh client's /healthz timed while each attack's sockets are held open."""
    timings = {}
    for key in attacks:
        name, first_bytes, count = HELD[key]
        with held_sockets(port, count, first_bytes):
            time.sleep(0.2)
            timings[name] = healthz_seconds(url)
    return timings


def check_service_survives(url: str, port: int, held=tuple(HELD)) -> dict[str, float]:
    """The `held` socket attacks in turn, a 64 KiB header, then a flood, with a fresh client's /healthz timed
    during each and once after all of them."""
    timings = check_held_sockets(url, port, held)
    assert huge_header_status(port) == 431
    result: dict[str, float] = {}
    during = threading.Thread(target=lambda: result.setdefault("flood", flood(url, 3.0)))
    during.start()
    time.sleep(1.0)
    timings["during a flood"] = healthz_seconds(url)
    during.join(30)
    timings["after"] = healthz_seconds(url)
    slow = {name: seconds for name, seconds in timings.items() if seconds > HEALTHZ_BUDGET_S}
    assert not slow, f"/healthz took longer than {HEALTHZ_BUDGET_S} s: {slow} (all: {timings})"
    assert result["flood"] > 50
    return timings
