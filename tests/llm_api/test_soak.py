"""Soak: SOAK_S seconds of CLIENTS concurrent clients, streamed and non-streamed chats mixed, over SESSIONS sessions
(several clients per session, so exchanges of one session race each other to the store). Afterwards every request
succeeded, every session is whole and holds exactly the exchanges its clients saw complete, and the llm-api's
resident memory (master and workers, sampled from /proc) stopped growing after the warm-up."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter

import pytest
import requests

from tests.llm_api.recorded_chats import Exchange, assert_whole, chat, exchanges_of, history_seen, read_sessions
from tests.support.linux_procs import child_pids, tree_rss_bytes

pytestmark = pytest.mark.slow

SOAK_S = 90.0
WARMUP_S = 20.0  # imports, connection pools, SQLite page caches and the allocator's arenas fill up first
CLIENTS = 32
SESSIONS = 8
THINK_S = (0.0, 0.1)  # a client's pause between two requests, uniform
TOKEN_DELAY_S = 0.005
EXCHANGES_PER_SESSION = 200  # a long conversation: 400 messages
RSS_WINDOW_S = 10.0
SAMPLE_EVERY_S = 1.0
RSS_GROWTH_LIMIT = 16 * 2**20  # see test_soak: growth after warm-up, all processes together
MiB = 2**20


class Slot:
    """One of the SESSIONS conversations that several clients share. After EXCHANGES_PER_SESSION exchanges the
    next client to ask starts a new session in its place, so the history sent with each request (and so the
    work and memory per request) stays in the same range for the whole soak instead of growing with it."""

    def __init__(self, session_id: str):
        self.lock = threading.Lock()
        self.session_id: str | None = session_id
        self.completed = 1  # the seed exchange
        self.replacing = False

    def session_for_next(self) -> str | None:
        """The session to continue, or None: the caller starts the replacement session."""
        with self.lock:
            if self.completed >= EXCHANGES_PER_SESSION and not self.replacing:
                self.replacing = True
                return None
            return self.session_id

    def finished(self, exchange: Exchange) -> None:
        with self.lock:
            if exchange.sent_session_id is None:
                self.replacing = False
                if exchange.done:
                    self.session_id, self.completed = exchange.session_id, 1
            elif exchange.done and exchange.session_id == self.session_id:
                self.completed += 1


def client_loop(url: str, n: int, slot: Slot, deadline: float, out: list[Exchange]) -> None:
    http = requests.Session()
    rng = random.Random(n)
    turn = 0
    while time.monotonic() < deadline:
        exchange = Exchange(f"k{n} t{turn}", slot.session_for_next(), stream=rng.random() < 0.5)
        out.append(chat(http, url, exchange, timeout_s=60))
        slot.finished(exchange)
        turn += 1
        time.sleep(rng.uniform(*THINK_S))


def sample_rss(master: int, stop: threading.Event, samples: list[tuple[float, int, tuple[int, ...]]]) -> None:
    started = time.monotonic()
    while not stop.wait(SAMPLE_EVERY_S):
        samples.append((time.monotonic() - started, tree_rss_bytes(master), tuple(child_pids(master))))


def test_soak_mixed_chats_over_shared_sessions(own_api, ollama, record_property):
    api, db = own_api
    seeded = [requests.post(api.url + "/ask-llm", json={"prompt": f"seed {n}"}, timeout=10).json()["session_id"]
              for n in range(SESSIONS)]
    ollama.set(token_delay_s=TOKEN_DELAY_S)
    records: list[list[Exchange]] = [[] for _ in range(CLIENTS)]
    samples: list[tuple[float, int, tuple[int, ...]]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(api.process.pid, stop, samples), daemon=True)
    sampler.start()
    deadline = time.monotonic() + SOAK_S
    slots = [Slot(sid) for sid in seeded]
    threads = [threading.Thread(target=client_loop, args=(api.url, n, slots[n % SESSIONS], deadline, records[n]))
               for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SOAK_S + 120)
    stop.set()
    sampler.join(timeout=10)
    assert not [t for t in threads if t.is_alive()], "a client hung"

    exchanges = [e for record in records for e in record]
    failed = [e for e in exchanges if not e.done]
    assert not failed, f"{len(failed)} of {len(exchanges)} failed, e.g. {failed[:3]}"

    sessions = read_sessions(db)
    assert_whole(sessions)
    completed = Counter(e.session_id for e in exchanges)
    assert set(sessions) == set(seeded) | set(completed)
    for sid, messages in sessions.items():
        pairs = exchanges_of(messages)
        assert len(pairs) == (sid in seeded) + completed[sid]  # the seed, then one per answer seen complete
        for index, (user, assistant) in enumerate(pairs):
            # racing exchanges are stored in commit order; each was answered with the history stored when it
            # started, which is a prefix of what precedes it in the store
            assert history_seen(assistant.content, user.content) <= 2 * index + 1
    stored_ids = {m.id for messages in sessions.values() for m in messages}
    assert {e.message_id for e in exchanges} <= stored_ids

    workers = {pids for _, _, pids in samples}
    assert len(workers) == 1 and len(next(iter(workers))) == 2, f"workers changed during the soak: {workers}"
    # the llm-api's memory right after the warm-up and at the end, each the median of RSS_WINDOW_S of samples
    warm = statistics.median(rss for at, rss, _ in samples if WARMUP_S <= at < WARMUP_S + RSS_WINDOW_S)
    end = statistics.median(rss for at, rss, _ in samples if at >= samples[-1][0] - RSS_WINDOW_S)
    peak = max(rss for _, rss, _ in samples)
    latencies = sorted(e.seconds for e in exchanges)
    figures = {"requests": len(exchanges), "streamed": sum(e.stream for e in exchanges),
               "per_s": round(len(exchanges) / SOAK_S, 1),
               "p50_ms": round(statistics.median(latencies) * 1000, 1),
               "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
               "sessions": len(sessions), "longest_session": max(len(m) for m in sessions.values()),
               "rss_first_mib": round(samples[0][1] / MiB, 1), "rss_warm_mib": round(warm / MiB, 1),
               "rss_end_mib": round(end / MiB, 1), "rss_peak_mib": round(peak / MiB, 1)}
    record_property("figures", figures)
    print(f"soak: {figures}")
    assert end - warm < RSS_GROWTH_LIMIT, figures
