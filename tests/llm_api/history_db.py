"""One history database of either engine for the store's tests: a store on it, and raw SQL beside the store.

`HistoryDb("sqlite", path)` or `HistoryDb("postgres", url)`; the `history_db` fixture (tests/llm_api/conftest.py)
is parametrized over both, so one test checks one guarantee on every engine.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from llm_api.config import load_config
from llm_api.store import Store, open_store
from llm_api.store.migrations import statements

ENGINES = ("sqlite", "postgres")


@dataclass(frozen=True)
class HistoryDb:
    engine: str
    target: str  # the SQLite file's path, or the PostgreSQL URL

    @property
    def env(self) -> dict[str, str]:
        """The llm-api's environment for this database."""
        return {"DATABASE_URL": self.target} if self.engine == "postgres" else {"DATABASE_PATH": self.target}

    def store(self, **env: str) -> Store:
        return open_store(load_config({**self.env, **env}))

    def execute(self, script: str, params: tuple[Any, ...] = ()) -> list[tuple]:
        """Run `script` (statements separated by `;`, `?` placeholders) in one committed transaction; the rows of
        the last statement."""
        rows: list[tuple] = []
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.target)
            try:
                for statement in statements(script):
                    rows = conn.execute(statement, params).fetchall()
                conn.commit()
            finally:
                conn.close()
            return rows
        import psycopg

        with psycopg.connect(self.target) as conn:
            for statement in statements(script):
                cur = conn.execute(statement.replace("?", "%s"), params or None)
                rows = cur.fetchall() if cur.description else []
        return rows

    def count(self, table: str) -> int:
        return self.execute(f"SELECT count(*) FROM {table}")[0][0]
