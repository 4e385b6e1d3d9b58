"""What a `create` has made so far, so that a failed step removes it again, newest first, and says so."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from deploy.console import Console


class Created:
    def __init__(self, console: Console):
        self.console = console
        self._undo: list[tuple[str, Callable[[], None]]] = []

    @property
    def made(self) -> bool:
        return bool(self._undo)

    def add(self, what: str, remove: Callable[[], None]) -> None:
        self.console.say(f"created {what}")
        self._undo.append((what, remove))

    def roll_back(self) -> None:
        while self._undo:
            what, remove = self._undo.pop()
            try:
                remove()
                self.console.say(f"rolled back: removed {what}")
            except Exception as error:  # keep removing the rest; say what is left to remove by hand
                self.console.fail(f"could not remove {what} ({type(error).__name__}: {error}); remove it by hand")


@contextmanager
def rolling_back(console: Console) -> Iterator[Created]:
    """`with rolling_back(console) as created:` — on any error inside, what `created` holds is removed."""
    created = Created(console)
    try:
        yield created
    except BaseException:
        if created.made:
            console.say("create failed: removing what it made")
            created.roll_back()
        raise
