"""Every chat model the stack has, with its state: Ollama's pulled models (and the default, when it is not pulled),
the worker's Omni, and each OpenAI-compatible backend's models. `GET /models` and `GET /v1/models` list this.

An external backend never slows the listing: discovery is cached (`openai_backend.Discovery`), the backends are
asked at the same time, and each wait is bounded by the probe timeout. A backend that fails is listed in `backends`
with the reason (its pinned models too, as `failed`); its key appears nowhere.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .config import PROBE_TIMEOUT_S
from .errors import ApiError
from .openai_backend import Discovery, OpenAIBackend
from .schemas import OMNI_MODEL, BackendEntry, ModelEntry, ModelsResponse
from .services import Services

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


def byte_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ollama_models(svc: Services, request_id: str) -> list[ModelEntry]:
    if svc.ollama is None:
        return []
    models: list[ModelEntry] = []
    for tag in svc.ollama.tags(request_id, PROBE_TIMEOUT_S):
        name = tag.get("name") or tag.get("model")
        models.append(ModelEntry(
            name=name, backend="ollama", size_bytes=byte_count(tag.get("size")),
            capabilities=_capabilities(svc.ollama.capabilities(name, request_id, PROBE_TIMEOUT_S)), state="ready",
        ))
    default = svc.config.default_model
    if svc.chat.route(default).kind == "ollama" and canonical(default) not in {canonical(m["name"]) for m in models}:
        models.append(ModelEntry(name=default, backend="ollama", size_bytes=None, capabilities=["chat"],
                                 state="not_pulled"))
    return models


def omni_model(svc: Services, request_id: str) -> ModelEntry | None:
    """Omni as the worker reports it; a worker that cannot be reached shows it as `failed`."""
    try:
        _status, body = svc.worker.readyz(request_id, PROBE_TIMEOUT_S)
    except ApiError:
        body = {}
    omni = body.get("models", {}).get(OMNI_MODEL) if isinstance(body.get("models"), dict) else None
    state = omni.get("state") if isinstance(omni, dict) else "failed"
    if state == "disabled":
        return None
    return ModelEntry(name=OMNI_MODEL, backend="worker", size_bytes=None, capabilities=OMNI_CAPABILITIES,
                      state=state if state in WORKER_STATES else "failed")


def discover_all(backends: list[OpenAIBackend], request_id: str) -> list[Discovery]:
    """Every backend's discovery, asked at once (threads; greenlets under gevent)."""
    if len(backends) <= 1:
        return [b.discovery(request_id, PROBE_TIMEOUT_S) for b in backends]
    with ThreadPoolExecutor(max_workers=min(8, len(backends))) as pool:
        return list(pool.map(lambda b: b.discovery(request_id, PROBE_TIMEOUT_S), backends))


def backend_models(backend: OpenAIBackend, found: Discovery) -> list[ModelEntry]:
    state = "failed" if found.error else "ready"
    return [ModelEntry(name=f"{backend.name}/{model}", backend="openai", provider=backend.name, size_bytes=None,
                       capabilities=["chat"], state=state, reason=found.error) for model in found.models]


def catalog(svc: Services, request_id: str) -> ModelsResponse:
    models = ollama_models(svc, request_id)
    omni = omni_model(svc, request_id)
    if omni is not None:
        models.append(omni)
    backends = list(svc.chat.openai.values())
    entries: list[BackendEntry] = []
    for backend, found in zip(backends, discover_all(backends, request_id), strict=True):
        models.extend(backend_models(backend, found))
        entries.append(BackendEntry(name=backend.name, kind="openai", state="failed" if found.error else "ready",
                                    reason=found.error))
    return ModelsResponse(models=models, default=svc.config.default_model, backends=entries)
