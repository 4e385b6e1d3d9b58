"""Durability under SIGKILL: while 16 clients stream chats (new sessions and continued ones, each mid-stream), one
gunicorn worker, or the whole llm-api, is killed with SIGKILL, on each history engine (SQLite, PostgreSQL).
Afterwards the database is intact (SQLite's integrity_check; no orphan or doubled seq in PostgreSQL), every session
is whole (user and assistant alternate, nothing twice), every answer a client saw complete is stored, the cut
streams ended cleanly for their clients, and the service (its replaced worker, or a restart on the same file)
answers and continues every session with exactly the stored history."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from tests.doubles.stack import llm_api_service
from tests.llm_api.conftest import LOG_DIR
from tests.llm_api.history_db import ENGINES
from tests.llm_api.recorded_chats import (
    Exchange,
    assert_whole,
    chat,
    exchanges_of,
    history_seen,
    integrity,
    read_sessions,
)
from tests.support.linux_procs import child_pids, connections_to_port, wait_children, wait_gone
from tests.support.procs import Service

CLIENTS = 16
SEEDED = 8  # clients 0-7 continue a session that existed before the attack
FRESH = 4  # clients 8-11 start a new session with every exchange; 12-15 start one and continue it
TOKEN_DELAY_S = 0.04
FILLER = " ".join(f"w{i}" for i in range(20))  # ~25 tokens: each stream lasts about a second
STAGGER_S = 0.03
READY_S = 30.0  # how long to wait for the moment to attack (every client mid-stream)
BURST_DONE = 300  # the write burst is killed after this many answers


@dataclass
class Client:
    n: int
    session_id: str | None
    stream: bool = True
    exchanges: list[Exchange] = field(default_factory=list)
    in_stream: bool = False

    @property
    def mode(self) -> str:
        return "seeded" if self.n < SEEDED else "fresh" if self.n < SEEDED + FRESH else "new-then-continue"


def run_client(url: str, client: Client, stop: threading.Event) -> None:
    """Chat back to back until told to stop or until an exchange does not complete (the kill cut it)."""
    http = requests.Session()
    turn = 0
    while not stop.is_set():
        sid = None if client.mode == "fresh" else client.session_id
        exchange = Exchange(f"c{client.n} t{turn} {FILLER}", sid, stream=client.stream)
        client.exchanges.append(exchange)
        client.in_stream = True
        chat(http, url, exchange, timeout_s=30)
        client.in_stream = False
        if exchange.session_id and client.mode != "fresh":
            client.session_id = exchange.session_id
        if not exchange.done:
            return
        turn += 1


def mid_stream(client: Client) -> bool:
    """Mid-stream with an earlier exchange complete: the client's current stream has sent at least a token."""
    return (client.in_stream and len(client.exchanges) >= 2
            and any(e.get("type") == "token" for e in client.exchanges[-1].events))


def all_mid_stream(clients: list[Client]) -> bool:
    return all(mid_stream(c) for c in clients)


@contextlib.contextmanager
def chatting_clients(url: str, clients: list[Client], ready=all_mid_stream) -> Iterator[threading.Event]:
    """Run the clients until the block has done its attack; the yielded event tells them to stop after their
    current exchange. Waits (bounded) for the moment `ready(clients)` (all mid-stream) before yielding."""
    stop = threading.Event()
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = []
        for client in clients:  # one by one: a burst of connections would all be accepted by one worker
            futures.append(pool.submit(run_client, url, client, stop))
            time.sleep(STAGGER_S)
        try:
            deadline = time.monotonic() + READY_S
            while not ready(clients):
                assert time.monotonic() < deadline, f"the clients were never {ready.__name__}"
                assert not [f for f in futures if f.done()], [f.exception() for f in futures if f.done()]
                time.sleep(0.005)
            yield stop
        finally:
            stop.set()
        for future in futures:
            future.result(timeout=60)


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def seed_sessions(url: str, count: int) -> list[str]:
    return [requests.post(url + "/ask-llm", json={"prompt": f"seed {n}"}, timeout=10).json()["session_id"]
            for n in range(count)]


def check_against_store(db_path, clients: list[Client], seeded: list[str]) -> dict[str, int]:
    """The clients' records against the database file; returns the figures for the report."""
    assert integrity(db_path) == "ok"
    sessions = read_sessions(db_path)
    assert_whole(sessions)  # alternating, no gaps, nothing twice, no session without an exchange
    asked = [e for c in clients for e in c.exchanges]
    by_prompt = {e.prompt: e for e in asked}
    stored_ids, stored_prompts = set(), set()
    for sid, messages in sessions.items():
        for index, (user, assistant) in enumerate(exchanges_of(messages)):
            stored_ids.add(assistant.id)
            stored_prompts.add(user.content)
            # the model was sent exactly the stored history before this exchange (each session has one writer)
            assert history_seen(assistant.content, user.content) == 2 * index + 1
            if sid not in seeded or index > 0:
                exchange = by_prompt[user.content]  # every other stored exchange is one a client asked for
                assert exchange.sent_session_id in (None, sid) and exchange.session_id in (None, sid)
                assert exchange.message_id in (None, assistant.id)  # None: cut before the answer's first byte
    done = [e for e in asked if e.done]
    cut = [e for e in asked if not e.done]
    assert not [e.message_id for e in done if e.message_id not in stored_ids], "an answer seen complete was lost"
    for e in cut:
        # a cut is the connection closing, mid-body (the chunked body never ends) or before the response began;
        # no error event (the process is gone), no partial line, never a `done`
        assert e.error_event is None and e.partial == b"", e
        if e.events:
            assert e.cut == "ChunkedEncodingError" and e.events[0]["type"] == "start", e
            assert {x["type"] for x in e.events[1:]} <= {"token"}, e
        else:  # before the response began, or a non-streamed answer's body was cut short
            assert e.cut in ("ConnectionError", "ChunkedEncodingError") and e.status in (None, 200), e
    return {"sessions": len(sessions), "exchanges_stored": len(stored_ids), "done_seen": len(done),
            "cut": len(cut), "cut_mid_body": sum(1 for e in cut if e.events),
            "cut_but_stored": sum(1 for e in cut if e.prompt in stored_prompts)}


def continue_every_session(url: str, db_path) -> int:
    """One more exchange in every stored session: the service answers, with the whole stored history."""
    sessions = read_sessions(db_path)
    for sid, messages in sessions.items():
        prompt = f"after {sid}"
        response = requests.post(url + "/ask-llm", json={"prompt": prompt, "session_id": sid}, timeout=10)
        assert response.status_code == 200, response.text
        assert history_seen(response.json()["answer"], prompt) == len(messages) + 1
    assert_whole(read_sessions(db_path))
    return len(sessions)


def test_sigkill_of_one_worker_mid_stream(own_api, ollama, record_property):
    api, db = own_api
    seeded = seed_sessions(api.url, SEEDED)
    clients = [Client(n, seeded[n] if n < SEEDED else None) for n in range(CLIENTS)]
    ollama.set(token_delay_s=TOKEN_DELAY_S)
    workers = child_pids(api.process.pid)
    assert len(workers) == 2
    with chatting_clients(api.url, clients) as stop:
        held = {pid: connections_to_port(pid, api.port) for pid in workers}
        victim = max(held, key=held.get)  # the worker serving most of the streams
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        stop.set()
        replaced = wait_children(api.process.pid, 2, {victim}, timeout_s=30)
        replaced_s = time.monotonic() - killed_at
    ollama.set(token_delay_s=0)
    figures = check_against_store(db, clients, seeded)
    # the streams on the killed worker, and only those, were cut; their upstream requests ended with them. `held`
    # may also count a keep-alive connection idle between two exchanges (its client's next request reconnects to
    # the surviving worker), so it bounds the cut streams rather than equals them.
    assert figures["cut"] == figures["cut_mid_body"], figures
    assert 1 <= figures["cut"] <= held[victim], (figures, held)
    assert wait_for(lambda: ollama.state()["counters"]["chat_aborted"] == figures["cut"]), ollama.state()
    assert figures["done_seen"] >= CLIENTS  # everyone finished at least one exchange before the kill
    ready = requests.get(api.url + "/readyz", timeout=10)
    assert ready.json()["checks"]["database"]["status"] == "up", ready.text
    continued = continue_every_session(api.url, db)
    assert set(child_pids(api.process.pid)) == set(replaced) and api.process.poll() is None
    record_property("figures", {**figures, "held_by_victim": held[victim], "held": list(held.values()),
                                "replaced_s": round(replaced_s, 2), "continued": continued})
    print(f"worker kill: {figures}, connections per worker {held}, replaced in {replaced_s:.2f}s")


def database(engine: str, tmp_path, request) -> tuple[object, dict[str, str]]:
    """Where the service keeps its history: the SQLite file, or a fresh PostgreSQL database (its URL), and the
    environment that says so."""
    if engine == "sqlite":
        return tmp_path / "llm-api.sqlite3", {}
    url = request.getfixturevalue("postgres_server").create_database(f"durable_{uuid.uuid4().hex[:10]}")
    return url, {"DATABASE_URL": url}


@pytest.fixture(params=ENGINES)
def own_api(request, tmp_path, ollama, closed_url) -> Iterator[tuple[Service, object]]:
    """conftest's `own_api` on each history engine: a service of the test's own (2 workers) and its database."""
    db, env = database(request.param, tmp_path, request)
    with llm_api_service(ollama.url, closed_url, tmp_path / "llm-api.sqlite3", env={"WEB_CONCURRENCY": "2", **env},
                         log_dir=LOG_DIR) as service:
        yield service, db


def answered_burst(clients: list[Client]) -> bool:
    """Enough answers for the writes to be in full swing, and every client past its first one."""
    done = [sum(e.done for e in c.exchanges) for c in clients]
    return sum(done) >= BURST_DONE and min(done) >= 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("load", ["streams", "write-burst"])
def test_sigkill_of_the_whole_service_and_restart_on_the_same_file(tmp_path, ollama, closed_url, load, engine,
                                                                   request, record_property):
    """`streams`: every client mid-stream when the kill comes. `write-burst`: non-streamed chats answered at once,
    back to back, so exchanges are being written (hundreds a second) when it comes."""
    db, database_env = database(engine, tmp_path, request)
    env = {"WEB_CONCURRENCY": "2", **database_env}
    streams = load == "streams"
    with llm_api_service(ollama.url, closed_url, tmp_path / "llm-api.sqlite3", env=env, log_dir=LOG_DIR) as api:
        seeded = seed_sessions(api.url, SEEDED)
        clients = [Client(n, seeded[n] if n < SEEDED else None, stream=streams) for n in range(CLIENTS)]
        ollama.set(token_delay_s=TOKEN_DELAY_S if streams else 0)
        pids = [api.process.pid, *child_pids(api.process.pid)]
        with chatting_clients(api.url, clients, all_mid_stream if streams else answered_burst) as stop:
            os.killpg(api.process.pid, signal.SIGKILL)  # master and workers, as an OOM kill would
            stop.set()
            api.process.wait(timeout=10)
        assert wait_gone(pids, timeout_s=10) == []
    ollama.set(token_delay_s=0)
    figures = check_against_store(db, clients, seeded)  # before any process opened the file again
    # mid-stream, every client is cut; in the burst, one that just had its answer may be told to stop first
    assert figures["cut"] == CLIENTS if streams else figures["cut"] >= 1
    with llm_api_service(ollama.url, closed_url, tmp_path / "llm-api.sqlite3", env=env, log_dir=LOG_DIR) as restarted:
        ready = requests.get(restarted.url + "/readyz", timeout=10).json()
        assert ready["checks"]["database"]["status"] == "up"
        for sid, messages in read_sessions(db).items():
            served = requests.get(f"{restarted.url}/sessions/{sid}", timeout=10).json()["messages"]
            assert [m["id"] for m in served] == [m.id for m in messages]
        continued = continue_every_session(restarted.url, db)
    assert integrity(db) == "ok"
    record_property("figures", {**figures, "continued": continued})
    print(f"service kill ({load}): {figures}")
