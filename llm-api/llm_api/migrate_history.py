"""Move the chat history of a SQLite file into PostgreSQL: `python -m llm_api.migrate_history --from FILE [--to URL]`.

`--to` defaults to `DATABASE_URL` (or `DATABASE_URL_FILE`). The target's schema is created or upgraded first, then
every session of the source is copied in one transaction, with its ids, timestamps, titles and timings unchanged:

- a session the target lacks is copied whole;
- a session whose messages in the target are the first ones of the source's (the SQLite llm-api kept answering
  after an earlier run) gets the missing ones, so a second run after the switch-over picks up the last exchanges;
- a session already identical is left alone: running the command again changes nothing;
- a session whose target messages differ from the source's (both sides were written) is left alone and reported.

Then the target is read back: every source session must hold exactly the source's messages, in order, and the
counts must match. Exit 0 when all is verified, 1 on a conflict or a mismatch, 2 on bad arguments or databases.
The source is opened read-only; stop the llm-api (or copy the file) first so no exchange arrives during the copy.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from .config import ConfigError, load_config, redact_url
from .store.interface import StoreError
from .store.migrations import SCHEMA_VERSION

SESSION_COLUMNS = ("id", "title", "created_at", "updated_at")
MESSAGE_COLUMNS = ("id", "session_id", "seq", "role", "content", "model", "created_at", "timings")


@dataclass
class Session:
    row: tuple
    messages: list[tuple] = field(default_factory=list)  # in seq order

    @property
    def id(self) -> str:
        return self.row[0]

    @property
    def message_ids(self) -> list[str]:
        return [m[0] for m in self.messages]


@dataclass
class Outcome:
    copied: int = 0
    copied_messages: int = 0
    extended: int = 0
    extended_messages: int = 0
    present: int = 0
    conflicts: list[str] = field(default_factory=list)


def read_source(path: str) -> tuple[int, dict[str, Session]]:
    """The source's schema version and sessions, read in one transaction (a consistent snapshot)."""
    if not os.path.isfile(path):
        raise StoreError(f"no SQLite file at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        if not 1 <= version <= SCHEMA_VERSION:
            raise StoreError(f"{path} has schema version {version}; this llm-api knows 1 to {SCHEMA_VERSION}")
        sessions = {row[0]: Session(row) for row in
                    conn.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions ORDER BY created_at, id")}
        for row in conn.execute(f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages ORDER BY session_id, seq"):
            if row[1] in sessions:  # (the foreign key keeps orphans out; a hand-edited file may have some)
                sessions[row[1]].messages.append(row)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()
    return version, sessions


def _target_ids(conn, session_ids: list[str]) -> dict[str, list[str]]:
    """The target's message ids (in seq order) of each of these sessions that it has."""
    found = {sid: [] for (sid,) in conn.execute("SELECT id FROM sessions WHERE id = ANY(%s)", (session_ids,))}
    for sid, ids in conn.execute("SELECT session_id, array_agg(id ORDER BY seq) FROM messages "
                                 "WHERE session_id = ANY(%s) GROUP BY session_id", (session_ids,)):
        found[sid] = list(ids)
    return found


def copy(conn, sessions: dict[str, Session]) -> Outcome:
    """Copy what the target lacks, in the caller's transaction."""
    from .store.postgres import MIGRATION_LOCK_KEY

    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
    existing = _target_ids(conn, list(sessions))
    outcome = Outcome()
    new_sessions: list[tuple] = []
    new_messages: list[tuple] = []
    extended: list[tuple] = []
    for sid, session in sessions.items():
        source_ids, target = session.message_ids, existing.get(sid)
        if target is None:
            new_sessions.append((*session.row, len(session.messages)))
            new_messages += session.messages
            outcome.copied += 1
            outcome.copied_messages += len(session.messages)
        elif target == source_ids:
            outcome.present += 1
        elif source_ids[: len(target)] == target:
            missing = session.messages[len(target):]
            new_messages += missing
            extended.append((session.row[3], len(session.messages), sid))
            outcome.extended += 1
            outcome.extended_messages += len(missing)
        else:
            outcome.conflicts.append(sid)
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}, message_count) "
                        "VALUES (%s, %s, %s, %s, %s)", new_sessions)
        cur.executemany("UPDATE sessions SET updated_at = greatest(updated_at, %s), message_count = %s WHERE id = %s",
                        extended)
        cur.executemany(f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", new_messages)
    return outcome


def verify(conn, sessions: dict[str, Session], skip: set[str]) -> list[str]:
    """The sessions whose target messages or count differ from the source's (conflicts excepted)."""
    wanted = [sid for sid in sessions if sid not in skip]
    existing = _target_ids(conn, wanted)
    counts = dict(conn.execute("SELECT id, message_count FROM sessions WHERE id = ANY(%s)", (wanted,)).fetchall())
    return [sid for sid in wanted
            if existing.get(sid) != sessions[sid].message_ids or counts.get(sid) != len(sessions[sid].messages)]


def migrate(source: str, url: str, out=sys.stdout) -> int:
    import psycopg

    from .store.postgres import PostgresStore

    version, sessions = read_source(source)
    messages = sum(len(s.messages) for s in sessions.values())
    print(f"source: {source} (schema {version}): {len(sessions)} sessions, {messages} messages", file=out)
    target = PostgresStore(url)
    print(f"target: {target.where} (schema {target.migrate()})", file=out)
    try:
        with psycopg.connect(url) as conn:
            with conn.transaction():
                outcome = copy(conn, sessions)
            wrong = verify(conn, sessions, set(outcome.conflicts))
    except psycopg.Error as exc:
        raise StoreError(f"database {target.where}: {type(exc).__name__}: {exc}") from None
    print(f"copied {outcome.copied} sessions ({outcome.copied_messages} messages); extended {outcome.extended} "
          f"({outcome.extended_messages} messages); {outcome.present} already present; "
          f"{len(outcome.conflicts)} conflicts", file=out)
    for sid in outcome.conflicts:
        print(f"conflict: session {sid} has messages in the target that the source lacks; left as it is", file=out)
    for sid in wrong:
        print(f"mismatch: session {sid} differs between source and target after the copy", file=out)
    if wrong or outcome.conflicts:
        return 1
    print(f"verified: all {len(sessions)} sessions and {messages} messages of the source are in the target",
          file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_api.migrate_history", description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, help="the SQLite history file (DATABASE_PATH)")
    parser.add_argument("--to", dest="url", help="postgresql://... (default: DATABASE_URL or DATABASE_URL_FILE)")
    args = parser.parse_args(argv)
    try:
        url = args.url or load_config(os.environ).database_url
        if not url:
            parser.error("give --to postgresql://... or set DATABASE_URL")
        if not url.startswith(("postgresql://", "postgres://")):
            parser.error(f"--to must be a postgresql:// URL, got {redact_url(url)}")
        return migrate(args.source, url)
    except (ConfigError, StoreError) as exc:
        print(f"migrate_history: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
