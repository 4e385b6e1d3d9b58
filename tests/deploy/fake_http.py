"""A recorder behind `responses` (which intercepts `requests`, the HTTP layer of google-auth's AuthorizedSession, the
Google clients' REST transports and azure-core's RequestsTransport): every request as the SDK sent it, and a small
in-memory model of the cloud's resources (created by POST/PUT, listed by GET, removed by DELETE). No request leaves
the process: `responses` refuses any URL no fake registered."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
from requests.structures import CaseInsensitiveDict

Reply = tuple[int, dict[str, str], str]


@dataclass
class Call:
    method: str
    url: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, request) -> Call:
        parts = urlsplit(request.url)
        body = request.body or b""
        call = Call(request.method, request.url, parts.path, parse_qs(parts.query),
                    CaseInsensitiveDict(request.headers), body.encode() if isinstance(body, str) else bytes(body))
        self.calls.append(call)
        return call

    def find(self, method: str, path_pattern: str) -> list[Call]:
        return [call for call in self.calls if call.method == method and re.search(path_pattern, call.path)]

    def serve(self, mock: responses.RequestsMock, host: str, handler: Callable[[Call], Reply]) -> None:
        """Answer every method on `host` with `handler(call)`."""
        def callback(request) -> Reply:
            return handler(self.record(request))

        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add_callback(method, re.compile(rf"https://{re.escape(host)}/.*"), callback=callback)


def local_passthrough(mock: responses.RequestsMock) -> None:
    """Let requests to this machine (the real worker on the loopback) through; every other URL stays refused."""
    mock.add_passthru(re.compile(r"http://(127\.0\.0\.1|localhost)(:\d+)?/"))


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body)
