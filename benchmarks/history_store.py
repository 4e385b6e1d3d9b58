"""History store benchmark: SQLite and PostgreSQL side by side, through the llm-api's own store classes.

Writers are gevent greenlets in worker processes patched the way gunicorn's gevent worker patches them (one
process for 1 writer, 2 processes, WEB_CONCURRENCY's default, for 32), each storing exchanges (a user and an
assistant message in one transaction, as at the end of every answer) into its own session for a fixed time.
Reads: `history()` (what every /ask-llm on a session reads) and `get_session()` (GET /sessions/<id>) of one
200-message session, one at a time.

Engines: SQLite as the store sets it up (WAL, synchronous=NORMAL: a commit is not fsynced, so an OS crash may lose
the last ones, a process crash none); PostgreSQL 15 on this machine with its defaults (every commit flushed to the
WAL on disk); PostgreSQL with synchronous_commit=off (SQLite's durability class). PostgreSQL is reached over TCP
on loopback, with the store's pool (DATABASE_POOL_SIZE 10 per process).

    .venv/bin/python benchmarks/history_store.py [--seconds 3] [--reads 400]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "llm-api")]

from tests.support.postgres import find_initdb, postgres_server  # noqa: E402

PROMPT = "Please explain, in a few sentences, how a write-ahead log keeps a database consistent after a crash. "
ANSWER = "A write-ahead log records every change before it is applied to the data files. " * 12  # ~1 KB
PROCESSES = {1: 1, 32: 2}

# One writer process: gevent first (as in a gunicorn worker), then the store; writes until the deadline.
WRITER = """
from gevent import monkey
monkey.patch_all()
import json, sys, time, gevent
from llm_api.config import load_config
from llm_api.store import Message, new_id, open_store
engine, target, writers, start_at, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), \\
    float(sys.argv[5])
env = {"DATABASE_URL": target} if engine != "sqlite" else {"DATABASE_PATH": target}
store = open_store(load_config(env))
prompt, answer = sys.argv[6], sys.argv[7]
def exchange(sid, create):
    store.add_exchange(sid, Message(new_id(), "user", prompt, "m"),
                       Message(new_id(), "assistant", answer, "m", {"total_ms": 812.5, "tokens_per_s": 41.2}),
                       create=create)
sids = [new_id() for _ in range(writers)]
for sid in sids:
    exchange(sid, True)  # warm: each session exists, the pool has its connections
counts = [0] * writers
def write(n):
    while time.time() < start_at:
        gevent.sleep(0.001)
    deadline = start_at + seconds
    while time.time() < deadline:
        exchange(sids[n], False)
        counts[n] += 1
gevent.joinall([gevent.spawn(write, n) for n in range(writers)])
store.close()
print(json.dumps(sum(counts)))
"""


def exchanges_per_s(engine: str, target: str, writers: int, seconds: float) -> float:
    processes = PROCESSES[writers]
    start_at = time.time() + 3.0  # after every process has imported and warmed up
    children = [subprocess.Popen([sys.executable, "-c", WRITER, engine, target, str(writers // processes),
                                  str(start_at), str(seconds), PROMPT, ANSWER], cwd=REPO / "llm-api",
                                 stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    total = 0
    for child in children:
        out, _ = child.communicate(timeout=seconds + 60)
        if child.returncode != 0:
            raise RuntimeError(f"writer failed ({child.returncode})")
        total += json.loads(out.strip().splitlines()[-1])
    return total / seconds


def read_latency(store, reads: int) -> dict[str, tuple[float, float]]:
    from llm_api.store import Message, new_id

    sid = new_id()
    for turn in range(100):  # 200 messages
        store.add_exchange(sid, Message(new_id(), "user", f"{turn} {PROMPT}", "m"),
                           Message(new_id(), "assistant", ANSWER, "m", {"total_ms": 812.5}), create=turn == 0)
    figures = {}
    for name, read in (("history", store.history), ("get_session", store.get_session)):
        assert len(read(sid) if name == "history" else read(sid)["messages"]) == 200
        samples = []
        for _ in range(reads):
            started = time.perf_counter()
            read(sid)
            samples.append((time.perf_counter() - started) * 1000)
        cuts = statistics.quantiles(samples, n=100)
        figures[name] = (statistics.median(samples), cuts[98])
    return figures


def measure(engine: str, target: str, seconds: float, reads: int) -> dict:
    from llm_api.config import load_config
    from llm_api.store import open_store

    store = open_store(load_config({"DATABASE_URL": target} if engine != "sqlite" else {"DATABASE_PATH": target}))
    store.migrate()
    row = {f"w{writers}": exchanges_per_s(engine, target, writers, seconds) for writers in PROCESSES}
    row.update(read_latency(store, reads))
    store.close()
    return row


def table(rows: dict[str, dict]) -> list[str]:
    lines = ["| engine | exchanges/s, 1 writer | exchanges/s, 32 writers | history() p50 / p99 ms | "
             "get_session() p50 / p99 ms |", "|---|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['w1']:.0f} | {r['w32']:.0f} | {r['history'][0]:.2f} / {r['history'][1]:.2f} | "
                     f"{r['get_session'][0]:.2f} / {r['get_session'][1]:.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="writing time per cell")
    parser.add_argument("--reads", type=int, default=400, help="reads per latency figure")
    args = parser.parse_args()
    if find_initdb() is None:
        print("history_store: PostgreSQL is not installed (apt-get install -y postgresql); skipped")
        return 0
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["SQLite (WAL, synchronous=NORMAL)"] = measure("sqlite", str(Path(tmp) / "bench.sqlite3"),
                                                           args.seconds, args.reads)
    with postgres_server(settings={}) as pg:  # the server's defaults: fsync on, synchronous_commit on
        rows["PostgreSQL 15 (defaults: commit flushed)"] = measure("postgres", pg.create_database("bench"),
                                                                   args.seconds, args.reads)
        url = pg.create_database("bench_async")
        pg.admin("ALTER DATABASE bench_async SET synchronous_commit = off")
        rows["PostgreSQL 15 (synchronous_commit=off)"] = measure("postgres", url, args.seconds, args.reads)
    print(f"History store: exchanges/s ({args.seconds:g} s per cell; gevent writers, 1 process for 1 writer, 2 for "
          f"32), reads of a 200-message session ({args.reads} each, one at a time)")
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
