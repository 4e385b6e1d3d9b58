"""Chat sessions in PostgreSQL (`DATABASE_URL`): one database shared by every llm-api process and replica.

gevent: psycopg 3 chooses how it waits for the server when it is first imported. Under gevent's monkey patching
it skips its C wait (`wait_c`, which would block every greenlet of the process) and waits in the patched
`select.poll`, and psycopg_pool's threads and locks become greenlets and gevent locks. So psycopg is imported
only where it runs: in a gunicorn worker after the patching (`create_app` imports this module), or in a plain
process (tests, `python -m llm_api.store` that gunicorn's master runs to migrate, `migrate_history`), never in
the master itself, whose imports the workers inherit. `PostgresStore` refuses to run if psycopg was imported
before the patching (`_require_cooperative_waits`).

Pool: one `psycopg_pool.ConnectionPool` per process, created there on first use, 1 to `pool_size` connections
(`DATABASE_POOL_SIZE`), each checked before it is handed out (a server restart costs no request), in autocommit
mode at READ COMMITTED. A greenlet holds a connection for one operation only (milliseconds, never across a model's
answer); one that finds the pool busy waits for a connection (POOL_TIMEOUT_S at most).

Guarantees (those of the SQLite store, now across processes): an exchange is one transaction whose first statement
updates its session's row, so writers of one session, in any process, queue on that row lock and each reads the
last seq after the one before it committed: whole exchanges, in order, never interleaved; UNIQUE (session_id, seq)
backs it. A session deleted meanwhile stays deleted (the UPDATE finds no row). Reads are single statements: one
snapshot, holding whole exchanges only. Migrations run in one transaction under `pg_advisory_xact_lock`, so
replicas starting at once migrate one after the other (PostgreSQL's DDL is transactional: all of it or none).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import IsolationLevel, waiting
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..config import redact_url
from . import migrations
from .interface import Message, StoreError, make_title, now

MIGRATION_LOCK_KEY = int.from_bytes(b"llm-api", "big")  # the advisory lock every llm-api migrates under
POOL_TIMEOUT_S = 15.0
PING_TIMEOUT_S = 3.0  # the health probes' bound (config.PROBE_TIMEOUT_S)
CONNECT_TIMEOUT_S = 5
MAX_IDLE_S = 300.0
CREATE_ATTEMPTS = 3
DEFAULT_PARAMS = {"connect_timeout": str(CONNECT_TIMEOUT_S), "application_name": "llm-api"}

UPDATE_SESSION = "UPDATE sessions SET updated_at = %s, message_count = message_count + 2 WHERE id = %s"
INSERT_SESSION = ("INSERT INTO sessions (id, title, created_at, updated_at, message_count) VALUES (%s, %s, %s, %s, 2) "
                  "ON CONFLICT (id) DO NOTHING")
LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM messages WHERE session_id = %s"
INSERT_EXCHANGE = ("INSERT INTO messages (id, session_id, seq, role, content, model, created_at, timings) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s, %s, %s)")
HISTORY = ("SELECT m.role, m.content FROM sessions s LEFT JOIN messages m ON m.session_id = s.id "
           "WHERE s.id = %s ORDER BY m.seq")
SESSION = ("SELECT s.id, s.title, s.created_at, m.id, m.role, m.content, m.model, m.created_at, m.timings "
           "FROM sessions s LEFT JOIN messages m ON m.session_id = s.id WHERE s.id = %s ORDER BY m.seq")


def _require_cooperative_waits() -> None:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("select") and waiting.wait is getattr(waiting, "wait_c", 0):
        raise StoreError("psycopg was imported before gevent's monkey patching, so its waits would block every "
                         "greenlet of this process; import llm_api.store.postgres only after the patching")


def wait_function() -> str:
    """The name of psycopg's wait function in this process (`wait_c` blocks under gevent; the others yield)."""
    return waiting.wait.__name__


class PostgresStore:
    def __init__(self, url: str, pool_size: int = 10):
        _require_cooperative_waits()
        self.url = url
        self.where = redact_url(url)  # for messages: never the password
        self.pool_size = pool_size
        try:
            given = conninfo_to_dict(url)
        except psycopg.Error:  # its message may quote the URL, password and all
            raise StoreError(f"DATABASE_URL is not a valid PostgreSQL connection URL: {self.where}") from None
        self._params = {k: v for k, v in DEFAULT_PARAMS.items() if k not in given}
        self._secret = given.get("password")
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r}, pool_size={self.pool_size})"

    # -- connections

    def _scrubbed(self, exc: BaseException) -> str:
        """The error as text, without the password should the server or libpq ever quote it."""
        text = f"{type(exc).__name__}: {exc}".strip()
        return text.replace(self._secret, "***") if self._secret and len(self._secret) >= 4 else text

    def _error(self, exc: BaseException) -> StoreError:
        return StoreError(f"database {self.where}: {self._scrubbed(exc)}")

    @staticmethod
    def _configure(conn: psycopg.Connection) -> None:
        conn.isolation_level = IsolationLevel.READ_COMMITTED  # whatever the server's default

    def _pool_here(self) -> ConnectionPool:
        """This process's pool (one opened before a fork is never used after it)."""
        with self._pool_lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ConnectionPool(
                    self.url, min_size=1, max_size=self.pool_size, timeout=POOL_TIMEOUT_S, max_idle=MAX_IDLE_S,
                    kwargs={"autocommit": True, **self._params}, configure=self._configure,
                    check=ConnectionPool.check_connection, name="llm-api-history", open=False)
                self._pool.open(wait=False)
                self._pid = os.getpid()
                atexit.register(self._pool.close)  # before interpreter teardown, while gevent's hub still runs
            return self._pool

    @contextlib.contextmanager
    def _connect(self, timeout: float = POOL_TIMEOUT_S) -> Iterator[psycopg.Connection]:
        try:
            with self._pool_here().connection(timeout=timeout) as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Close the pool (the store stays usable: a new one is opened on next use)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- schema

    def migrate(self) -> int:
        """Create or upgrade the schema under the advisory lock, on a connection of its own (no pool)."""
        try:
            with psycopg.connect(self.url, autocommit=True, **self._params) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                return migrations.apply(conn.execute, self.where)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open database {self.where}: {self._scrubbed(exc)}") from None

    def version(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0

    def ping(self) -> None:
        """For /readyz: answers within PING_TIMEOUT_S, up or not."""
        try:
            with self._connect(PING_TIMEOUT_S) as conn:
                conn.execute("SELECT 1 FROM sessions LIMIT 1").fetchone()
        except psycopg.Error as exc:
            raise self._error(exc) from None

    # -- history

    def history(self, session_id: str) -> list[dict[str, str]] | None:
        with self._connect() as conn:
            rows = conn.execute(HISTORY, (session_id,)).fetchall()
        if not rows:
            return None
        return [{"role": role, "content": content} for role, content in rows if role is not None]

    def _next_seq(self, cur: psycopg.Cursor, session_id: str, stamp: str, title: str, create: bool) -> int | None:
        """Claim the session's row for this transaction; the last seq stored in it, or None (no such session)."""
        for _ in range(CREATE_ATTEMPTS):
            cur.execute(UPDATE_SESSION, (stamp, session_id))  # the row lock: other writers of it wait here
            if cur.rowcount:
                return cur.execute(LAST_SEQ, (session_id,)).fetchone()[0]
            if not create:
                return None
            cur.execute(INSERT_SESSION, (session_id, title, stamp, stamp))
            if cur.rowcount:
                return 0
            # another process created it since our UPDATE (and committed): update it like any existing one
        raise StoreError(f"session {session_id} was created and deleted {CREATE_ATTEMPTS} times while storing")

    def add_exchange(self, session_id: str, user: Message, assistant: Message, *, create: bool) -> bool:
        stamp = now()
        with self._connect() as conn, conn.transaction(), conn.cursor() as cur:
            seq = self._next_seq(cur, session_id, stamp, make_title(user.content), create)
            if seq is None:
                return False
            values: list[Any] = []
            for offset, message in enumerate((user, assistant), start=1):
                values += [message.id, session_id, seq + offset, message.role, message.content, message.model,
                           stamp, None if message.timings is None else json.dumps(message.timings)]
            cur.execute(INSERT_EXCHANGE, values)
        return True

    def list_sessions(self, limit: int, before: str | None) -> list[dict[str, Any]]:
        query = "SELECT id, title, created_at, updated_at, message_count FROM sessions"
        params: list[Any] = []
        if before is not None:
            query += " WHERE updated_at < %s"
            params.append(before)
        query += " ORDER BY updated_at DESC, id DESC LIMIT %s"
        params.append(limit)
        with self._connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            rows = conn.execute(SESSION, (session_id,)).fetchall()
        if not rows:
            return None
        sid, title, created_at = rows[0][:3]
        messages = [{"id": mid, "role": role, "content": content, "model": model, "created_at": created,
                     "timings": None if timings is None else json.loads(timings)}
                    for _, _, _, mid, role, content, model, created, timings in rows if mid is not None]
        return {"id": sid, "title": title, "created_at": created_at, "messages": messages}

    def delete_session(self, session_id: str) -> bool:
        with self._connect() as conn:
            return conn.execute("DELETE FROM sessions WHERE id = %s", (session_id,)).rowcount > 0
