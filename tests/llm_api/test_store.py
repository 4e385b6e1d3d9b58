"""The SQLite session store: migrations, exchanges, listing, pagination, deletion, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from multiprocessing import get_context

import pytest

from llm_api.store import MIGRATIONS, SCHEMA_VERSION, Message, Store, StoreError, make_title, new_id


def exchange(store: Store, sid: str, prompt: str, answer: str, create: bool = True) -> bool:
    return store.add_exchange(sid, Message(new_id(), "user", prompt, "m"),
                              Message(new_id(), "assistant", answer, "m", {"total_ms": 1.0}), create=create)


@pytest.fixture()
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "s.sqlite3"))
    s.migrate()
    return s


def test_fresh_database_gets_latest_schema_in_wal_mode(store):
    assert store.version() == SCHEMA_VERSION == len(MIGRATIONS)
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.migrate() == SCHEMA_VERSION  # idempotent


def test_migration_from_version_1_keeps_data_and_fills_counts(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.executescript("""
        CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
        INSERT INTO sessions VALUES ('s1', 'old', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
        INSERT INTO messages VALUES ('m1', 's1', 1, 'user', 'hi', 'x', '2026-01-01T00:00:00.000000Z', NULL);
        INSERT INTO messages VALUES ('m2', 's1', 2, 'assistant', 'yo', 'x', '2026-01-01T00:00:00.000000Z', '{}');
    """)
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.migrate() == SCHEMA_VERSION
    assert store.list_sessions(10, None) == [{"id": "s1", "title": "old", "created_at": "2026-01-01T00:00:00.000000Z",
                                               "updated_at": "2026-01-01T00:00:00.000000Z", "message_count": 2}]
    assert [m["content"] for m in store.get_session("s1")["messages"]] == ["hi", "yo"]


def test_newer_schema_is_refused(tmp_path, store):
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(store.path).migrate()


def test_unopenable_database_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open"):
        Store(str(tmp_path / "missing-dir" / "x.db")).migrate()


def test_exchanges_in_order_with_title_and_timings(store):
    assert store.history("nope") is None
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
    assert store.list_sessions(10, None)[0]["message_count"] == 4


def test_deleted_session_is_not_recreated_by_a_late_answer(store):
    exchange(store, "s1", "p", "a")
    assert store.delete_session("s1") and not store.delete_session("s1")
    assert not exchange(store, "s1", "late", "answer", create=False)
    assert store.get_session("s1") is None
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM messages").fetchone()[0] == 0


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
    for user, assistant in zip(history[0::2], history[1::2], strict=True):  # every pair stays together
        assert user["role"] == "user" and assistant["role"] == "assistant"
        expected = "a" if user["content"] == "start" else "a" + user["content"][1:]
        assert assistant["content"] == expected


def _process_writer(path: str, n: int) -> None:
    store = Store(path)
    store.migrate()
    for i in range(15):
        exchange(store, f"p{n}", f"q{i}", f"a{i}")


def test_processes_migrating_and_writing_at_once(tmp_path):
    path = str(tmp_path / "procs.sqlite3")
    ctx = get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = Store(path)
    assert store.version() == SCHEMA_VERSION
    for n in range(3):
        assert [m["content"] for m in store.history(f"p{n}")[::2]] == [f"q{i}" for i in range(15)]


def test_connections_are_reused_and_never_shared(store):
    exchange(store, "s", "p", "a")
    with store._connect() as first, store._connect() as second:
        assert first is not second  # two callers at once get two connections
    reused = store._idle[-1]
    with store._connect() as again:
        assert again is reused
    store.close()
    assert store._idle == [] and store.history("s") is not None  # still usable after close
