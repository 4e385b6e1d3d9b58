"""Chat sessions in SQLite (the embedded default): durable, shared by every gunicorn worker process and greenlet.

Concurrency approach: WAL journal (readers never block the one writer); one short-lived connection per
operation (no connection is shared between greenlets or threads); `BEGIN IMMEDIATE` for every write transaction,
so two writers never deadlock upgrading a read lock, taken in a retry loop whose pauses are `time.sleep` (a
yield under gevent: a worker waiting for another process's write keeps serving its other streams), then
`busy_timeout` for the rest. An exchange (user + assistant message) is written in one transaction, only when the
answer is complete. The schema (`migrations.py`) is versioned in `schema_version` and migrated forward on start,
under `BEGIN IMMEDIATE`. sqlite3 calls themselves block their process's event loop while they run; no transaction
spans network I/O, so that is bounded by milliseconds, not by a model's answer.
This module imports only the standard library (gunicorn's master migrates before gevent patches anything).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

from . import migrations
from .interface import Message, StoreError, make_title, now

BUSY_TIMEOUT_MS = 15_000
WRITE_RETRY_S = (0.0005, 0.02)  # first and longest pause between attempts to take the write lock


class SqliteStore:
    def __init__(self, path: str, pool_size: int = 16):
        self.path = path
        self.pool_size = pool_size
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()
        self._pid = os.getpid()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _take(self) -> sqlite3.Connection:
        with self._idle_lock:
            if self._pid != os.getpid():  # never use a connection opened before a fork
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._open()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection used by one caller at a time. Idle ones are kept: besides saving the open, this keeps
        the WAL file from being checkpointed and removed (with fsyncs) each time the last connection closes."""
        conn = self._take()
        reusable = False
        try:
            yield conn
            reusable = not conn.in_transaction
        finally:
            with self._idle_lock:
                if reusable and len(self._idle) < self.pool_size and self._pid == os.getpid():
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Close the idle connections (the store stays usable)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @staticmethod
    def _begin_immediate(conn: sqlite3.Connection) -> None:
        """Take the write lock, waiting with `time.sleep` (which gevent turns into a yield) rather than in
        SQLite's busy handler, which would block every greenlet of this worker process while it waits."""
        conn.execute("PRAGMA busy_timeout = 0")
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = WRITE_RETRY_S[0]
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, WRITE_RETRY_S[1])
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            self._begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def migrate(self) -> int:
        """Create or upgrade the schema; safe when several processes start at once. Returns the version."""
        try:
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode = WAL")
            with self._write() as conn:  # BEGIN IMMEDIATE: one migrating process at a time
                return migrations.apply(conn.execute, self.path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        finally:
            self.close()  # gunicorn's master migrates, then forks: it keeps no connection open

    def version(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0

    def ping(self) -> None:
        try:
            with self._connect() as conn:
                conn.execute("SELECT count(*) FROM sessions").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    def history(self, session_id: str) -> list[dict[str, str]] | None:
        """The session's messages as chat turns, in order; None when the session does not exist."""
        with self._connect() as conn:
            conn.execute("BEGIN")
            if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
                conn.execute("COMMIT")
                return None
            rows = conn.execute("SELECT role, content FROM messages WHERE session_id = ? ORDER BY seq",
                                (session_id,)).fetchall()
            conn.execute("COMMIT")
        return [{"role": row["role"], "content": row["content"]} for row in rows]

    def add_exchange(self, session_id: str, user: Message, assistant: Message, *, create: bool) -> bool:
        """Store a complete exchange. With `create`, a missing session is created (titled by the prompt);
        without it, a session deleted meanwhile stays deleted and nothing is stored (returns False)."""
        stamp = now()
        with self._write() as conn:  # one transaction, few statements: it is on every answer's path
            updated = conn.execute("UPDATE sessions SET updated_at = ?, message_count = message_count + 2 "
                                   "WHERE id = ?", (stamp, session_id)).rowcount
            if updated:
                seq = conn.execute("SELECT coalesce(max(seq), 0) FROM messages WHERE session_id = ?",
                                   (session_id,)).fetchone()[0]
            elif create:
                conn.execute("INSERT INTO sessions (id, title, created_at, updated_at, message_count) "
                             "VALUES (?, ?, ?, ?, 2)", (session_id, make_title(user.content), stamp, stamp))
                seq = 0
            else:
                return False
            conn.executemany(
                "INSERT INTO messages (id, session_id, seq, role, content, model, created_at, timings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(message.id, session_id, seq + offset, message.role, message.content, message.model, stamp,
                  None if message.timings is None else json.dumps(message.timings))
                 for offset, message in enumerate((user, assistant), start=1)],
            )
        return True

    def list_sessions(self, limit: int, before: str | None) -> list[dict[str, Any]]:
        query = "SELECT id, title, created_at, updated_at, message_count FROM sessions"
        params: list[Any] = []
        if before is not None:
            query += " WHERE updated_at < ?"
            params.append(before)
        query += " ORDER BY updated_at DESC, id DESC LIMIT ?"
        params.append(limit)
        with self._connect() as conn:
            return [dict(row) for row in conn.execute(query, params).fetchall()]

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            conn.execute("BEGIN")
            row = conn.execute("SELECT id, title, created_at FROM sessions WHERE id = ?",
                               (session_id,)).fetchone()
            if row is None:
                conn.execute("COMMIT")
                return None
            messages = conn.execute(
                "SELECT id, role, content, model, created_at, timings FROM messages WHERE session_id = ? "
                "ORDER BY seq", (session_id,)).fetchall()
            conn.execute("COMMIT")
        session = dict(row)
        session["messages"] = [
            {**dict(m), "timings": None if m["timings"] is None else json.loads(m["timings"])} for m in messages
        ]
        return session

    def delete_session(self, session_id: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0
