"""The history schema, as versioned migrations shared by every engine, and the one function that applies them.

Each entry of `MIGRATIONS` moves the schema from version i to i + 1. Never edit a released entry; append a new
one. The SQL is the common subset of SQLite and PostgreSQL (TEXT, INTEGER, CHECK, UNIQUE, ON DELETE CASCADE), so
both engines hold the same tables, columns and indexes at every version. Timestamps are fixed-format RFC 3339 text
(`interface.format_timestamp`), which sorts in time order under any collation.

`apply` runs inside the caller's transaction, after the caller has taken the engine's lock that makes concurrent
starts safe (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock). Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .interface import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: sessions and their messages, ordered by a per-session sequence number.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content TEXT NOT NULL,
        model TEXT,
        created_at TEXT NOT NULL,
        timings TEXT,
        UNIQUE (session_id, seq)
    );
    """,
    # 2: a stored message count (kept by writes) and an index for the newest-first session list.
    """
    ALTER TABLE sessions ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET message_count = (SELECT count(*) FROM messages WHERE messages.session_id = sessions.id);
    CREATE INDEX sessions_by_update ON sessions (updated_at DESC, id DESC);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

Execute = Callable[[str], Any]  # runs one statement; returns something with fetchone() (a cursor)


def statements(migration: str) -> Iterator[str]:
    """The statements of one migration (they hold no `;` inside literals)."""
    return (s.strip() for s in migration.split(";") if s.strip())


def apply(execute: Execute, where: str) -> int:
    """Bring the schema to `SCHEMA_VERSION` with `execute`, in the caller's transaction and under its lock.
    `where` names the database in errors (never with a password). Returns the version."""
    execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    version = execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
    if version > SCHEMA_VERSION:
        raise StoreError(f"database {where} has schema version {version}, newer than this llm-api knows "
                         f"({SCHEMA_VERSION})")
    if version == SCHEMA_VERSION:
        return version
    for number in range(version, SCHEMA_VERSION):
        for statement in statements(MIGRATIONS[number]):
            execute(statement)
    execute("DELETE FROM schema_version")
    execute(f"INSERT INTO schema_version (version) VALUES ({int(SCHEMA_VERSION)})")
    return SCHEMA_VERSION
