"""What every history store offers the routes (`Store`), and the records and helpers the engines share.

The routes see only this interface; `open_store` (in `__init__`) picks the engine. Standard library only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

TITLE_CHARS = 60


class StoreError(RuntimeError):
    """The database cannot be opened or reached, or has a schema this code does not know."""


@dataclass(frozen=True)
class Message:
    id: str
    role: str
    content: str
    model: str | None
    timings: dict[str, Any] | None = None


class Store(Protocol):
    """Chat sessions and their messages. Every engine keeps the same guarantees: an exchange (user + assistant
    message) is stored whole or not at all, in order, never interleaved with another writer's, in every process
    sharing the database."""

    def migrate(self) -> int:
        """Create or upgrade the schema; safe when several processes start at once. Returns the version."""

    def version(self) -> int: ...

    def ping(self) -> None:
        """Raises `StoreError` when the database cannot answer."""

    def history(self, session_id: str) -> list[dict[str, str]] | None:
        """The session's messages as chat turns, in order; None when the session does not exist."""

    def add_exchange(self, session_id: str, user: Message, assistant: Message, *, create: bool) -> bool:
        """Store a complete exchange. With `create`, a missing session is created (titled by the prompt);
        without it, a session deleted meanwhile stays deleted and nothing is stored (returns False)."""

    def list_sessions(self, limit: int, before: str | None) -> list[dict[str, Any]]: ...

    def get_session(self, session_id: str) -> dict[str, Any] | None: ...

    def delete_session(self, session_id: str) -> bool: ...

    def close(self) -> None:
        """Close idle connections."""


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds; these strings sort in time order (byte order, as both engines compare)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> str:
    return format_timestamp(datetime.now(UTC))


def make_title(prompt: str) -> str:
    """The session title: the first prompt on one line, truncated."""
    flat = " ".join(prompt.split())
    return flat if len(flat) <= TITLE_CHARS else flat[: TITLE_CHARS - 1].rstrip() + "…"
