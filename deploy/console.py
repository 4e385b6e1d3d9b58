"""Everything the tool prints goes through `Console`: one line at a time, with any secret of the environment (an
access key, a token, a client secret, a password) replaced by `***` should an SDK message ever carry one."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import TextIO

_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|CREDENTIAL|ACCESS_KEY|_KEY$", re.IGNORECASE)
_MIN_SECRET_LENGTH = 8  # shorter values ("1", "true") would blank out ordinary words


def secrets_of(environ: Mapping[str, str]) -> list[str]:
    values = {value for name, value in environ.items() if _SECRET_NAME.search(name) and len(value) >= 8}
    return sorted(values, key=len, reverse=True)


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None,
                 environ: Mapping[str, str] | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._secrets = secrets_of(os.environ if environ is None else environ)

    def add_secret(self, value: str | None) -> None:
        """Hide a secret the tool came to hold (an endpoint key, a token) from everything printed afterwards."""
        if value and len(value) >= _MIN_SECRET_LENGTH and value not in self._secrets:
            self._secrets = sorted([*self._secrets, value], key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def say(self, line: str) -> None:
        print(self.redact(line), file=self.out, flush=True)

    def fail(self, line: str) -> None:
        print(self.redact(f"error: {line}"), file=self.err, flush=True)
