"""`python -m llm_api.migrate_history`: SQLite history into a real PostgreSQL, whole, verified, idempotent, resumable
after the SQLite llm-api answered more, and refusing to touch a session both sides wrote."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from llm_api.store import MIGRATIONS, Message, SqliteStore, new_id
from llm_api.store.postgres import PostgresStore
from tests.doubles.stack import LLM_API_DIR


def exchange(store, sid: str, prompt: str, create: bool = True) -> None:
    assert store.add_exchange(sid, Message(new_id(), "user", prompt, "m1"),
                              Message(new_id(), "assistant", f"answer to {prompt}", "m2", {"total_ms": 12.5}),
                              create=create)


def run(source, url: str | None, **env: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "llm_api.migrate_history", "--from", str(source)] + (["--to", url] if url else [])
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    return subprocess.run(argv, cwd=LLM_API_DIR, env={**environ, **env}, capture_output=True, text=True, timeout=60)


def same_history(sqlite_store, pg_store) -> None:
    listed = sqlite_store.list_sessions(200, None)
    assert pg_store.list_sessions(200, None) == listed
    for session in listed:
        assert pg_store.get_session(session["id"]) == sqlite_store.get_session(session["id"])


@pytest.fixture()
def source(tmp_path) -> SqliteStore:
    store = SqliteStore(str(tmp_path / "history.sqlite3"))
    store.migrate()
    for n in range(6):
        for turn in range(3):
            exchange(store, f"s{n}", f"session {n} turn {turn} 日本語 🗾")
    return store


def test_copies_everything_verifies_and_is_idempotent(source, postgres_server):
    url = postgres_server.create_database("moved")
    first = run(source.path, url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "source: " in first.stdout and "6 sessions, 36 messages" in first.stdout
    assert "copied 6 sessions (36 messages)" in first.stdout and "verified: all 6 sessions" in first.stdout
    assert postgres_server.password not in first.stdout + first.stderr
    target = PostgresStore(url)
    same_history(source, target)
    again = run(source.path, url)
    assert again.returncode == 0 and "copied 0 sessions" in again.stdout and "6 already present" in again.stdout
    same_history(source, target)
    target.close()


def test_a_second_run_picks_up_what_sqlite_answered_since(source, postgres_server):
    url = postgres_server.create_database("resumed")
    assert run(source.path, None, DATABASE_URL=url).returncode == 0  # --to from DATABASE_URL
    exchange(source, "s2", "one more")
    exchange(source, "late", "a new session")
    second = run(source.path, url)
    assert second.returncode == 0, second.stdout
    assert "copied 1 sessions (2 messages); extended 1 (2 messages); 5 already present" in second.stdout
    target = PostgresStore(url)
    same_history(source, target)
    exchange(target, "s2", "continued on postgres", create=False)  # the seq goes on after the copied ones
    assert [m["content"] for m in target.history("s2")][-2:] == ["continued on postgres",
                                                                "answer to continued on postgres"]
    target.close()


def test_a_session_written_on_both_sides_is_reported_not_touched(source, postgres_server):
    url = postgres_server.create_database("diverged")
    assert run(source.path, url).returncode == 0
    target = PostgresStore(url)
    exchange(target, "s1", "written on postgres")
    exchange(source, "s1", "written on sqlite")
    result = run(source.path, url)
    assert result.returncode == 1 and "conflict: session s1" in result.stdout
    assert [m["content"] for m in target.history("s1")][-2] == "written on postgres"
    target.close()


def test_a_version_1_file_is_copied_with_counts(tmp_path, postgres_server):
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + """;
        CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
        INSERT INTO sessions VALUES ('old', 't', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
        INSERT INTO messages VALUES ('m1', 'old', 1, 'user', 'hi', 'x', '2026-01-01T00:00:00.000000Z', NULL);
        INSERT INTO messages VALUES ('m2', 'old', 2, 'assistant', 'yo', 'x', '2026-01-01T00:00:00.000000Z', '{}');
    """)
    conn.commit()
    conn.close()
    url = postgres_server.create_database("from_v1")
    result = run(path, url)
    assert result.returncode == 0, result.stdout + result.stderr
    target = PostgresStore(url)
    assert target.list_sessions(10, None)[0]["message_count"] == 2
    assert target.history("old") == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    target.close()


def test_bad_arguments_say_why(tmp_path, postgres_server):
    missing = run(tmp_path / "none.sqlite3", postgres_server.create_database("unused"))
    assert missing.returncode == 2 and "no SQLite file" in missing.stderr
    no_target = run(tmp_path / "none.sqlite3", None)
    assert no_target.returncode == 2 and "DATABASE_URL" in no_target.stderr
