"""The client side of `gateway_vs_litellm.py`: one chat request to any target over a kept-alive `http.client`
connection (light on the client's CPU, which shares the cores with the servers), timed to the whole answer and
to its first token, and the interleaved rounds at concurrency 1 and N.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from gateway_targets import MODEL, Target, group_cpu_s

PROMPT = "ベンチマーク用の短い質問です。 please answer briefly"
PATHS = {"ollama": "/api/chat", "llm-api": "/ask-llm", "openai": "/v1/chat/completions"}


def request_body(kind: str, stream: bool) -> bytes:
    if kind == "llm-api":
        body = {"prompt": PROMPT, "model": MODEL, "stream": stream}
    else:
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    return json.dumps(body).encode()


def is_token(kind: str, line: bytes) -> bool:
    """Whether this line of a stream carries the first piece of answer text."""
    if kind == "openai":
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            return False
        choices = json.loads(line[6:]).get("choices") or [{}]
        return bool((choices[0].get("delta") or {}).get("content"))
    if not line.strip():
        return False
    item = json.loads(line)
    return item.get("type") == "token" if kind == "llm-api" else bool((item.get("message") or {}).get("content"))


class Client:
    """One kept-alive connection to one target; `call` returns (total ms, first-token ms or None)."""

    def __init__(self, target: Target):
        self.target = target
        host, port = target.url.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.conn: http.client.HTTPConnection | None = None
        self.bodies = {stream: request_body(target.kind, stream) for stream in (False, True)}
        self.headers = {"Content-Type": "application/json", **target.headers}

    def call(self, stream: bool) -> tuple[float, float | None]:
        for attempt in range(2):  # a kept-alive connection the server closed meanwhile: reconnect once
            try:
                return self._call(stream)
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _call(self, stream: bool) -> tuple[float, float | None]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(*self.address, timeout=120)
        start = time.perf_counter()
        self.conn.request("POST", PATHS[self.target.kind], self.bodies[stream], self.headers)
        response = self.conn.getresponse()
        first = None
        if stream:
            while line := response.readline():
                if is_token(self.target.kind, line):
                    first = (time.perf_counter() - start) * 1000
                    break
        response.read()
        total = (time.perf_counter() - start) * 1000
        if response.status != 200 or (stream and first is None):
            raise RuntimeError(f"{self.target.name} answered HTTP {response.status} without a token")
        return total, first

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Samples:
    """Per target: latencies (ms) and the CPU its processes used (s) over a counted number of requests."""

    ms: dict[str, list[float]] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, values: list[float]) -> None:
        self.ms.setdefault(name, []).extend(values)

    def cpu_ms_per_request(self, name: str) -> float:
        return self.cpu_s[name] * 1000 / len(self.ms[name])


@contextlib.contextmanager
def cpu_of(targets: list[Target], samples: Samples) -> Iterator[None]:
    """Each target's CPU over the whole block (background work after an answer included), into `samples`."""
    before = {t.name: group_cpu_s(t.pgid) for t in targets if t.pgid}
    yield
    for target in targets:
        if target.pgid:
            samples.cpu_s[target.name] = group_cpu_s(target.pgid) - before[target.name]


def sequential(targets: list[Target], rounds: int, stream: bool, seed: int = 1) -> Samples:
    """Concurrency 1: each round sends one request to every target, in a shuffled order."""
    clients = {t.name: Client(t) for t in targets}
    for client in clients.values():  # warm up: connections, first loads, lazy imports
        for _ in range(5):
            client.call(stream)
    order, rng, samples = list(targets), random.Random(seed), Samples()
    with cpu_of(targets, samples):
        for _ in range(rounds):
            rng.shuffle(order)
            for target in order:
                total, first = clients[target.name].call(stream)
                samples.add(target.name, [first if stream else total])
    for client in clients.values():
        client.close()
    return samples


def _burst(clients: list[Client]) -> list[float]:
    """All clients stream at once (released together); their first-token latencies."""
    gate = threading.Barrier(len(clients))
    firsts: list[float] = []

    def one(client: Client) -> None:
        gate.wait()
        firsts.append(client.call(True)[1])

    threads = [threading.Thread(target=one, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(firsts) != len(clients):
        raise RuntimeError(f"{clients[0].target.name}: {len(clients) - len(firsts)} streams failed")
    return firsts


def concurrent(targets: list[Target], rounds: int, concurrency: int, seed: int = 2) -> Samples:
    """Concurrency N: each round sends N simultaneous streams to every target in turn, in a shuffled order."""
    pools = {t.name: [Client(t) for _ in range(concurrency)] for t in targets}
    for target in targets:
        _burst(pools[target.name])  # warm up all connections
    order, rng, samples = list(targets), random.Random(seed), Samples()
    with cpu_of(targets, samples):
        for _ in range(rounds):
            rng.shuffle(order)
            for target in order:
                samples.add(target.name, _burst(pools[target.name]))
    for pool in pools.values():
        for client in pool:
            client.close()
    return samples
