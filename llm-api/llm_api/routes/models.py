"""`GET /models` (Ollama's pulled models, the default model, the worker's Omni) and `POST /models/pull`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, g, jsonify, request

from ..config import PROBE_TIMEOUT_S
from ..errors import ApiError
from ..schemas import OMNI_MODEL, ModelEntry, ModelsResponse, PullDone, PullProgress, parse_pull, read_json
from ..services import ndjson_line, ndjson_response, services

bp = Blueprint("models", __name__)
OMNI_CAPABILITIES = ["chat", "audio", "speech"]
WORKER_STATES = {"ready", "loading", "failed"}


def canonical(name: str) -> str:
    """Ollama's full name: a name without a tag means `:latest`."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"


def _capabilities(raw: list[str] | None) -> list[str]:
    if raw is None:
        return ["chat"]
    return ["chat" if c == "completion" else c for c in raw]


def _omni_entry(request_id: str) -> ModelEntry | None:
    """Omni as the worker reports it; a worker that cannot be reached shows it as `failed`."""
    try:
        _status, body = services().worker.readyz(request_id, PROBE_TIMEOUT_S)
    except ApiError:
        body = {}
    omni = body.get("models", {}).get(OMNI_MODEL) if isinstance(body.get("models"), dict) else None
    state = omni.get("state") if isinstance(omni, dict) else "failed"
    if state == "disabled":
        return None
    return ModelEntry(name=OMNI_MODEL, backend="worker", size_bytes=None, capabilities=OMNI_CAPABILITIES,
                      state=state if state in WORKER_STATES else "failed")


@bp.get("/models")
def list_models():
    svc = services()
    request_id = g.request_id
    default = svc.config.default_model
    models: list[ModelEntry] = []
    for tag in svc.ollama.tags(request_id, PROBE_TIMEOUT_S):
        name = tag.get("name") or tag.get("model")
        models.append(ModelEntry(
            name=name, backend="ollama", size_bytes=_bytes(tag.get("size")),
            capabilities=_capabilities(svc.ollama.capabilities(name, request_id, PROBE_TIMEOUT_S)), state="ready",
        ))
    if canonical(default) not in {canonical(m["name"]) for m in models}:
        models.append(ModelEntry(name=default, backend="ollama", size_bytes=None, capabilities=["chat"],
                                 state="not_pulled"))
    omni = _omni_entry(request_id)
    if omni is not None:
        models.append(omni)
    return jsonify(ModelsResponse(models=models, default=default))


@bp.post("/models/pull")
def pull_model():
    pull = parse_pull(read_json(request))
    request_id = g.request_id
    progress = services().ollama.pull(pull.name, request_id)
    return ndjson_response(_pull_lines(progress, request_id))


def _pull_lines(progress: Iterator[dict[str, Any]], request_id: str) -> Iterator[bytes]:
    try:
        for item in progress:
            if item.get("status") == "success":
                yield ndjson_line(PullDone(type="done"))
                return
            yield ndjson_line(PullProgress(type="progress", status=str(item.get("status", "")),
                                           completed=_bytes(item.get("completed")), total=_bytes(item.get("total"))))
    except ApiError as err:
        yield ndjson_line({"type": "error", **err.body(request_id)})
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()


def _bytes(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
