"""Chat history: the interface the routes use (`Store`), and the engine the configuration picks.

| module          | job                                                                              |
|-----------------|----------------------------------------------------------------------------------|
| `interface.py`  | the `Store` protocol, `Message`, `StoreError`, ids, timestamps, titles            |
| `migrations.py` | the versioned schema both engines share, and the function that applies it        |
| `sqlite.py`     | `SqliteStore`: the embedded default, a file at `DATABASE_PATH`                    |
| `postgres.py`   | `PostgresStore`: `DATABASE_URL=postgresql://...`, shared by processes and replicas |
| `__main__.py`   | `python -m llm_api.store`: migrate the configured database (gunicorn's master)    |

This package imports only the standard library: `postgres.py` (psycopg) is imported by `open_store` when
PostgreSQL is configured, in the process that uses it, so gunicorn's master never imports psycopg before gevent
patches the workers (see postgres.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..config import Config
from .interface import Message, Store, StoreError, format_timestamp, make_title, new_id, now
from .migrations import MIGRATIONS, SCHEMA_VERSION
from .sqlite import SqliteStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Message", "SqliteStore", "Store", "StoreError", "format_timestamp",
           "make_title", "migrate_store", "new_id", "now", "open_store"]

MIGRATE_TIMEOUT_S = 120
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding llm_api/


def open_store(config: Config) -> Store:
    """The configured store (not migrated yet: call `migrate()`)."""
    if config.database_url is None:
        return SqliteStore(config.database_path)
    from .postgres import PostgresStore

    return PostgresStore(config.database_url, pool_size=config.database_pool_size)


def migrate_store(config: Config) -> int:
    """Migrate the configured database from gunicorn's master, before any worker starts. SQLite migrates here;
    PostgreSQL in a child process (`python -m llm_api.store`), so that psycopg is never imported by the master.
    Raises `StoreError` with the child's one-line reason."""
    if config.database_url is None:
        return SqliteStore(config.database_path).migrate()
    env = {**os.environ, "DATABASE_URL": config.database_url}  # this config's database, wherever it came from
    env.pop("DATABASE_URL_FILE", None)
    try:
        done = subprocess.run([sys.executable, "-m", "llm_api.store"], cwd=PACKAGE_ROOT, env=env, capture_output=True,
                              text=True, timeout=MIGRATE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise StoreError(f"the schema migration did not finish within {MIGRATE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise StoreError(lines[-1] if lines else f"the schema migration exited with {done.returncode}")
    return int(done.stdout.strip() or SCHEMA_VERSION)
