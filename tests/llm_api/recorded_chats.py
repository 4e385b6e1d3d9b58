"""Chat clients that record what they saw, and a reader that checks what the llm-api stored, for the attack tests
(SIGKILL durability, soak): the clients' records are compared with the database itself (the SQLite file, or
PostgreSQL), read directly."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

ANSWER = re.compile(r"^You said: (?P<prompt>.*) \((?P<count>\d+) messages\)$", re.DOTALL)  # the Ollama double's


@dataclass
class Exchange:
    """One `POST /ask-llm` as its client saw it."""

    prompt: str
    sent_session_id: str | None
    stream: bool
    status: int | None = None
    session_id: str | None = None
    message_id: str | None = None
    answer: str | None = None
    events: list[dict] = field(default_factory=list)
    cut: str | None = None  # the exception that ended a stream without its last line (connection closed)
    partial: bytes = b""  # bytes after the last complete line when the stream was cut
    seconds: float = 0.0

    @property
    def done(self) -> bool:
        """The client saw the answer complete: a 200 JSON answer, or a stream's `done` event."""
        return self.answer is not None

    @property
    def error_event(self) -> dict | None:
        return next((e for e in self.events if e.get("type") == "error"), None)

    @property
    def tokens(self) -> int:
        return sum(1 for e in self.events if e.get("type") == "token")


def chat(http: requests.Session, url: str, exchange: Exchange, timeout_s: float = 60.0) -> Exchange:
    """Ask once and record the outcome in `exchange`; a stream is read line by line as it arrives, so a cut
    leaves what came before it (and another thread can watch the events grow)."""
    body = {"prompt": exchange.prompt, "stream": exchange.stream,
            **({"session_id": exchange.sent_session_id} if exchange.sent_session_id else {})}
    started = time.perf_counter()
    try:
        response = http.post(url + "/ask-llm", json=body, stream=exchange.stream, timeout=(5, timeout_s))
        exchange.status = response.status_code
        if not exchange.stream or response.status_code != 200:
            data = response.json()
            if response.status_code == 200:
                exchange.session_id, exchange.message_id = data["session_id"], data["message_id"]
                exchange.answer = data["answer"]
            return exchange
        _read_stream(response, exchange)
    except requests.RequestException as exc:
        exchange.cut = type(exc).__name__
    finally:
        exchange.seconds = time.perf_counter() - started
    return exchange


def _read_stream(response: requests.Response, exchange: Exchange) -> None:
    buffer = b""
    try:
        for chunk in response.iter_content(chunk_size=None):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    _take_event(json.loads(line), exchange)
    finally:
        exchange.partial = buffer
        response.close()


def _take_event(event: dict, exchange: Exchange) -> None:
    exchange.events.append(event)
    if event["type"] == "start":
        exchange.session_id, exchange.message_id = event["session_id"], event["message_id"]
    elif event["type"] == "done":
        exchange.answer = event["answer"]


@dataclass(frozen=True)
class StoredMessage:
    id: str
    seq: int
    role: str
    content: str


def is_postgres(db: Path | str) -> bool:
    return str(db).startswith(("postgresql://", "postgres://"))


def integrity(db: Path | str) -> str:
    """SQLite's integrity_check of the file; for a PostgreSQL URL, that every message belongs to a session and no
    (session, seq) is taken twice (the server's constraints and crash recovery are PostgreSQL's job)."""
    if is_postgres(db):
        orphans, doubles = _rows(db, "SELECT (SELECT count(*) FROM messages m WHERE NOT EXISTS "
                                     "(SELECT 1 FROM sessions s WHERE s.id = m.session_id)), "
                                     "(SELECT count(*) - count(DISTINCT (session_id, seq)) FROM messages)")[0]
        return "ok" if orphans == doubles == 0 else f"{orphans} orphan messages, {doubles} doubled seqs"
    with sqlite3.connect(db) as conn:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def _rows(db: Path | str, *queries: str) -> list:
    """The rows of each query, read in one transaction (one snapshot) from the SQLite file or PostgreSQL URL;
    a single query gives its rows, several a list of row lists."""
    if is_postgres(db):
        import psycopg

        with psycopg.connect(str(db)) as conn:
            results = [conn.execute(q).fetchall() for q in queries]
    else:
        conn = sqlite3.connect(db)
        try:
            conn.execute("BEGIN")
            results = [conn.execute(q).fetchall() for q in queries]
        finally:
            conn.close()
    return results[0] if len(queries) == 1 else results


def read_sessions(db: Path | str) -> dict[str, list[StoredMessage]]:
    """Every session's messages in seq order, straight from the database (a SQLite file or a PostgreSQL URL)."""
    ids, messages, counted = _rows(db, "SELECT id FROM sessions",
                                   "SELECT session_id, id, seq, role, content FROM messages ORDER BY session_id, seq",
                                   "SELECT id, message_count FROM sessions")
    sessions: dict[str, list[StoredMessage]] = {row[0]: [] for row in ids}
    for row in messages:
        sessions[row[0]].append(StoredMessage(*row[1:]))
    counts = dict(counted)
    for sid, stored in sessions.items():
        assert counts[sid] == len(stored), f"session {sid}: message_count {counts[sid]} != {len(stored)} rows"
    return sessions


def assert_whole(sessions: dict[str, list[StoredMessage]]) -> None:
    """No session holds a user message without its reply or an empty session; seqs run 1..n without gaps; no
    message is stored twice (by id, or the same prompt twice: every prompt the tests send is unique)."""
    ids: Counter[str] = Counter()
    prompts: Counter[str] = Counter()
    for sid, messages in sessions.items():
        roles = [m.role for m in messages]
        assert roles and roles == ["user", "assistant"] * (len(roles) // 2), f"session {sid}: {roles}"
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1)), f"session {sid}: seq gaps"
        ids.update(m.id for m in messages)
        prompts.update(m.content for m in messages if m.role == "user")
    assert not [i for i, n in ids.items() if n > 1], "a message id is stored twice"
    assert not [p for p, n in prompts.items() if n > 1], "a prompt is stored twice"


def exchanges_of(messages: list[StoredMessage]) -> list[tuple[StoredMessage, StoredMessage]]:
    return list(zip(messages[::2], messages[1::2], strict=True))


def history_seen(answer: str, prompt: str) -> int:
    """How many messages the model received for this answer (the double says so), checking it echoes `prompt`."""
    match = ANSWER.match(answer)
    assert match and match["prompt"] == prompt, f"answer {answer!r} is not the double's answer to {prompt!r}"
    return int(match["count"])
