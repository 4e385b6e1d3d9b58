"""Which backend answers a chat model, and one way to ask any of them.

A model name is routed by its form: `omni` is the model-worker's Omni; `<name>/<model>` whose `<name>` is a backend
of `OPENAI_BACKENDS` goes to that backend as `<model>`; anything else is an Ollama model (whose names may contain
`/` too: `7shi/ezo-gemma-2-jpn:...`; a backend's name shadows an Ollama namespace of the same name). Both `/ask-llm`
and `/v1/chat/completions` use this, so the same names work everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .config import PROBE_TIMEOUT_S
from .errors import BackendUnavailable
from .ollama import OllamaClient
from .openai_backend import OpenAIBackend
from .schemas import OMNI_MODEL, ChatOptions, Timings
from .upstream import ChatEvent
from .worker import WorkerClient


@dataclass(frozen=True)
class Route:
    """Where a model's chats go: `kind` is `ollama`, `worker` or `openai`; `model` is the backend's own name."""

    kind: str
    model: str
    backend: OpenAIBackend | None = None


@dataclass(frozen=True)
class Answer:
    text: str
    timings: Timings
    finish_reason: str


class ChatBackends:
    def __init__(self, ollama: OllamaClient | None, worker: WorkerClient, openai: Mapping[str, OpenAIBackend]):
        self.ollama = ollama
        self.worker = worker
        self.openai = dict(openai)

    def route(self, model: str) -> Route:
        if model == OMNI_MODEL:
            return Route("worker", model)
        prefix, slash, rest = model.partition("/")
        if slash and rest and prefix in self.openai:
            return Route("openai", rest, self.openai[prefix])
        return Route("ollama", model)

    def _checked(self, model: str, request_id: str) -> Route:
        route = self.route(model)
        if route.backend is not None:
            route.backend.check_model(route.model, request_id, PROBE_TIMEOUT_S)
        return route

    def _ollama(self) -> OllamaClient:
        if self.ollama is None:
            raise BackendUnavailable("Ollama is turned off here (OLLAMA_URL=none); choose another model from "
                                     "GET /models.")
        return self.ollama

    def chat(self, model: str, messages: list[dict[str, str]], options: ChatOptions, request_id: str) -> Answer:
        """A whole answer from whichever backend serves `model`."""
        route = self._checked(model, request_id)
        if route.backend is not None:
            return Answer(*route.backend.chat(route.model, messages, options, request_id))
        if route.kind == "worker":
            return Answer(*self.worker.chat(messages, _without_stop(options), request_id), finish_reason="stop")
        return Answer(*self._ollama().chat(route.model, messages, options, request_id))

    def chat_stream(self, model: str, messages: list[dict[str, str]], options: ChatOptions,
                    request_id: str) -> Iterator[ChatEvent]:
        """Token events, then one done event; opening the stream raises the backend's refusal here."""
        route = self._checked(model, request_id)
        if route.backend is not None:
            return route.backend.chat_stream(route.model, messages, options, request_id)
        if route.kind == "worker":
            return self.worker.chat_stream(messages, _without_stop(options), request_id)
        return self._ollama().chat_stream(route.model, messages, options, request_id)


def _without_stop(options: ChatOptions) -> ChatOptions:
    """The worker's Omni takes no stop sequences (OpenAI's `stop` is ignored for it, as for models that lack it)."""
    return dataclasses.replace(options, stop=None)
