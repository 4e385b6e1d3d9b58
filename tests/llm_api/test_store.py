"""The session store on each engine (SQLite, and a real PostgreSQL server): migrations, exchanges, listing,
pagination, deletion, concurrent writers in threads and processes. Engine-specific checks come last."""

from __future__ import annotations

import sqlite3
import threading
from multiprocessing import get_context

import pytest

from llm_api.store import MIGRATIONS, SCHEMA_VERSION, Message, SqliteStore, Store, StoreError, make_title, new_id
from tests.llm_api.history_db import HistoryDb
from tests.support.procs import free_port

SECRET = "s3cret-Pa55word"

V1_ROWS = """
    CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
    INSERT INTO sessions VALUES ('s1', 'old', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
    INSERT INTO messages VALUES ('m1', 's1', 1, 'user', 'hi', 'x', '2026-01-01T00:00:00.000000Z', NULL);
    INSERT INTO messages VALUES ('m2', 's1', 2, 'assistant', 'yo', 'x', '2026-01-01T00:00:00.000000Z', '{}');
"""


def exchange(store: Store, sid: str, prompt: str, answer: str, create: bool = True) -> bool:
    return store.add_exchange(sid, Message(new_id(), "user", prompt, "m"),
                              Message(new_id(), "assistant", answer, "m", {"total_ms": 1.0}), create=create)


def assert_alternating(history: list[dict[str, str]]) -> None:
    for user, assistant in zip(history[0::2], history[1::2], strict=True):  # every pair stays together
        assert user["role"] == "user" and assistant["role"] == "assistant"
        expected = "a" if user["content"] == "start" else "a" + user["content"][1:]
        assert assistant["content"] == expected


@pytest.fixture()
def store(history_db: HistoryDb):
    s = history_db.store()
    s.migrate()
    yield s
    s.close()


def test_fresh_database_gets_latest_schema(store):
    assert store.version() == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.migrate() == SCHEMA_VERSION  # idempotent
    store.ping()


def test_migration_from_version_1_keeps_data_and_fills_counts(history_db):
    history_db.execute(MIGRATIONS[0] + ";" + V1_ROWS)
    store = history_db.store()
    assert store.migrate() == SCHEMA_VERSION
    assert store.list_sessions(10, None) == [{"id": "s1", "title": "old", "created_at": "2026-01-01T00:00:00.000000Z",
                                               "updated_at": "2026-01-01T00:00:00.000000Z", "message_count": 2}]
    assert [m["content"] for m in store.get_session("s1")["messages"]] == ["hi", "yo"]
    assert exchange(store, "s1", "more", "amore", create=False)  # seq continues after the migrated rows
    assert [m["content"] for m in store.history("s1")] == ["hi", "yo", "more", "amore"]
    store.close()


def test_newer_schema_is_refused(history_db, store):
    history_db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="newer"):
        history_db.store().migrate()


def test_unreachable_database_is_a_store_error(history_db, tmp_path):
    if history_db.engine == "sqlite":
        bad = HistoryDb("sqlite", str(tmp_path / "missing-dir" / "x.db"))
    else:  # nothing listens there; the password must not appear in the error
        bad = HistoryDb("postgres", f"postgresql://llm:{SECRET}@127.0.0.1:{free_port()}/history")
    with pytest.raises(StoreError, match="cannot open") as info:
        bad.store().migrate()
    assert SECRET not in str(info.value) and SECRET not in repr(bad.store())


def test_exchanges_in_order_with_title_and_timings(store):
    assert store.history("nope") is None and store.get_session("nope") is None
    assert exchange(store, "s1", "  first\n prompt  " + "x" * 100, "a1")
    assert exchange(store, "s1", "second", "a2")
    assert store.history("s1") == [
        {"role": "user", "content": "  first\n prompt  " + "x" * 100}, {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "second"}, {"role": "assistant", "content": "a2"}]
    session = store.get_session("s1")
    assert session["title"] == make_title("first prompt " + "x" * 100) and session["title"].endswith("…")
    assert len(session["title"]) == 60
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"] * 2
    assert session["messages"][1]["timings"] == {"total_ms": 1.0} and session["messages"][0]["timings"] is None
    assert set(session) == {"id", "title", "created_at", "messages"}
    assert set(session["messages"][0]) == {"id", "role", "content", "model", "created_at", "timings"}
    assert store.list_sessions(10, None)[0]["message_count"] == 4


def test_japanese_and_emoji_round_trip(store):
    exchange(store, "jp", "日本の首都は？ 🗼", "東京です。")
    assert store.history("jp") == [{"role": "user", "content": "日本の首都は？ 🗼"},
                                   {"role": "assistant", "content": "東京です。"}]


def test_deleted_session_is_not_recreated_by_a_late_answer(history_db, store):
    exchange(store, "s1", "p", "a")
    assert store.delete_session("s1") and not store.delete_session("s1")
    assert not exchange(store, "s1", "late", "answer", create=False)
    assert store.get_session("s1") is None and store.history("s1") is None
    assert history_db.count("messages") == 0


def test_list_is_newest_first_and_pages_with_before(store):
    for i in range(5):
        exchange(store, f"s{i}", f"p{i}", "a")
    exchange(store, "s0", "again", "a")  # s0 becomes the newest
    ids = [s["id"] for s in store.list_sessions(50, None)]
    assert ids == ["s0", "s4", "s3", "s2", "s1"]
    page1 = store.list_sessions(2, None)
    page2 = store.list_sessions(2, page1[-1]["updated_at"])
    page3 = store.list_sessions(2, page2[-1]["updated_at"])
    assert [s["id"] for s in page1 + page2 + page3] == ids


def test_threads_writing_the_same_session_lose_nothing(store):
    exchange(store, "shared", "start", "a")

    def write(n: int) -> None:
        for i in range(10):
            exchange(store, "shared", f"t{n}-{i}", f"a{n}-{i}", create=False)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.history("shared")
    assert len(history) == 2 + 6 * 10 * 2
    assert_alternating(history)
    assert store.list_sessions(1, None)[0]["message_count"] == len(history)


def test_two_stores_creating_the_same_session_at_once_both_land(history_db, store):
    """Two processes (two stores) storing the first exchange of one new session id: both are kept, in turn."""
    other = history_db.store()
    barrier = threading.Barrier(2)

    def write(s: Store, n: int) -> None:
        barrier.wait()
        assert exchange(s, "new", f"t{n}", f"a{n}")

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate((store, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.history("new")
    assert len(history) == 4
    assert_alternating(history)
    other.close()


def _process_writer(engine: str, target: str, n: int) -> None:
    store = HistoryDb(engine, target).store()
    store.migrate()
    for i in range(15):
        exchange(store, f"p{n}", f"q{i}", f"a{i}")
        exchange(store, "shared", f"t{n}-{i}", f"a{n}-{i}")
    store.close()


def test_processes_migrating_and_writing_at_once(history_db):
    """Four processes start on an empty database at once: each migrates (one at a time, under the engine's
    lock) and writes its own session and a shared one."""
    ctx = get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(history_db.engine, history_db.target, n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        assert p.exitcode == 0
    store = history_db.store()
    assert store.version() == SCHEMA_VERSION
    for n in range(4):
        assert [m["content"] for m in store.history(f"p{n}")[::2]] == [f"q{i}" for i in range(15)]
    shared = store.history("shared")
    assert len(shared) == 4 * 15 * 2
    assert_alternating(shared)
    assert history_db.execute("SELECT count(*) FROM schema_version") == [(1,)]
    store.close()


# -- SQLite only


def test_sqlite_is_in_wal_mode(tmp_path):
    store = SqliteStore(str(tmp_path / "wal.sqlite3"))
    store.migrate()
    assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_connections_are_reused_and_never_shared(tmp_path):
    store = SqliteStore(str(tmp_path / "pool.sqlite3"))
    store.migrate()
    exchange(store, "s", "p", "a")
    with store._connect() as first, store._connect() as second:
        assert first is not second  # two callers at once get two connections
    reused = store._idle[-1]
    with store._connect() as again:
        assert again is reused
    store.close()
    assert store._idle == [] and store.history("s") is not None  # still usable after close
