"""`GET /models` (every chat model: see `catalog`) and `POST /models/pull` (an Ollama model, with progress)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, g, jsonify, request

from ..catalog import byte_count, catalog
from ..errors import ApiError, BackendUnavailable
from ..schemas import PullDone, PullProgress, parse_pull, read_json
from ..services import ndjson_line, ndjson_response, services

bp = Blueprint("models", __name__)


@bp.get("/models")
def list_models():
    return jsonify(catalog(services(), g.request_id))


@bp.post("/models/pull")
def pull_model():
    pull = parse_pull(read_json(request))
    request_id = g.request_id
    ollama = services().ollama
    if ollama is None:
        raise BackendUnavailable("Ollama is turned off here (OLLAMA_URL=none): there is nothing to pull into.")
    progress = ollama.pull(pull.name, request_id)
    return ndjson_response(_pull_lines(progress, request_id))


def _pull_lines(progress: Iterator[dict[str, Any]], request_id: str) -> Iterator[bytes]:
    try:
        for item in progress:
            if item.get("status") == "success":
                yield ndjson_line(PullDone(type="done"))
                return
            yield ndjson_line(PullProgress(type="progress", status=str(item.get("status", "")),
                                           completed=byte_count(item.get("completed")),
                                           total=byte_count(item.get("total"))))
    except ApiError as err:
        yield ndjson_line({"type": "error", **err.body(request_id)})
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()

