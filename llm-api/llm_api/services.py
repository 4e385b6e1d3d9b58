"""What the routes need, built once per app by `create_app` and reached through `services()`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app

from .chat_backends import ChatBackends
from .config import Config
from .metrics import Metrics
from .ollama import OllamaClient
from .realtime import RealtimeClient
from .store import Store
from .worker import WorkerClient

NDJSON_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class Services:
    config: Config
    store: Store
    ollama: OllamaClient | None  # None: turned off (OLLAMA_URL=none)
    worker: WorkerClient
    chat: ChatBackends  # routes a chat model to Ollama, the worker or an OpenAI-compatible backend
    metrics: Metrics = field(default_factory=Metrics)  # create_app's: the one /metrics reports
    realtime: RealtimeClient | None = None  # None: switched off (REALTIME_URL=none)


def services() -> Services:
    return current_app.extensions["llm_api"]


def ndjson_line(item: dict[str, Any]) -> bytes:
    return (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def ndjson_response(lines: Iterator[bytes]) -> Response:
    return Response(lines, status=200, mimetype="application/x-ndjson", headers=NDJSON_HEADERS,
                    direct_passthrough=True)
