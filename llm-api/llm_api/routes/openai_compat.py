"""OpenAI's API on the llm-api: `POST /v1/chat/completions` (whole, or server-sent events ending `data: [DONE]`)
and `GET /v1/models`, for every model the stack has (the same names as `/models`).

Stateless, as OpenAI's API is: the caller sends the whole conversation. A caller that wants the exchange kept in the
stack's history sends `X-Session-ID: <session id>` (or `new`, to start a session); the last user message and the
answer are then stored there as one exchange once the answer is complete, and the response's `X-Session-ID` names
the session.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from itertools import chain
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from ..catalog import catalog
from ..errors import INTERNAL_MESSAGE, ApiError, BackendError, BadRequest
from ..openai_schemas import CompletionRequest, chunk, completion, parse_completion, usage_chunk
from ..schemas import Timings, read_json, session_not_found
from ..services import Services, services
from ..store import Message, new_id
from ..upstream import ChatEvent

bp = Blueprint("openai_compat", __name__)
log = logging.getLogger("llm_api.openai")
SESSION_HEADER = "X-Session-ID"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Keep:
    """The opt-in session an exchange is stored in: an existing session, or a new one (`create`)."""

    def __init__(self, session_id: str, create: bool, prompt: str):
        self.session_id = session_id
        self.create = create
        self.prompt = prompt

    def store(self, svc: Services, model: str, answer: str, timings: Timings, request_id: str) -> None:
        user = Message(new_id(), "user", self.prompt, model)
        assistant = Message(new_id(), "assistant", answer, model, timings)
        if not svc.store.add_exchange(self.session_id, user, assistant, create=self.create):
            log.warning("session %s was deleted while answering; exchange not stored request_id=%s",
                        self.session_id, request_id)


def _keep(svc: Services, ask: CompletionRequest) -> Keep | None:
    raw = request.headers.get(SESSION_HEADER, "").strip()
    if not raw:
        return None
    last = ask.messages[-1]
    if last["role"] != "user":
        raise BadRequest(f"To store an exchange ({SESSION_HEADER}), the last message must be the user's.")
    if raw == "new":
        return Keep(new_id(), True, last["content"])
    if svc.store.history(raw) is None:
        raise session_not_found(raw)
    return Keep(raw, False, last["content"])


def _timings(backend: Timings, started: float, first_token_ms: float | None) -> Timings:
    return {**backend, "total_ms": round((time.perf_counter() - started) * 1000, 1), "first_token_ms": first_token_ms}


@bp.post("/v1/chat/completions")
def chat_completions():
    svc = services()
    ask = parse_completion(read_json(request))
    keep = _keep(svc, ask)
    completion_id = "chatcmpl-" + new_id()
    if not ask.stream:
        answer = svc.chat.chat(ask.model, ask.messages, ask.options, g.request_id)
        timings = _timings(answer.timings, g.request_start, None)
        svc.metrics.answer(ask.model, timings)
        if keep is not None:
            keep.store(svc, ask.model, answer.text, timings, g.request_id)
        response = jsonify(completion(completion_id, ask.model, answer.text, answer.finish_reason, timings))
    else:
        events = svc.chat.chat_stream(ask.model, ask.messages, ask.options, g.request_id)
        try:
            first = next(events)  # a refusal before the first piece is still a plain HTTP error
        except StopIteration:
            raise BackendError("The backend's stream was empty; try again.") from None
        body = _sse(svc, ask, keep, completion_id, first, events, g.request_id, g.request_start)
        response = Response(body, status=200, mimetype="text/event-stream", headers=SSE_HEADERS,
                            direct_passthrough=True)
    if keep is not None:
        response.headers[SESSION_HEADER] = keep.session_id
    return response


def _event(item: dict[str, Any] | str) -> bytes:
    data = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def _sse(svc: Services, ask: CompletionRequest, keep: Keep | None, completion_id: str, first: ChatEvent,
         upstream: Iterator[ChatEvent], request_id: str, started: float) -> Iterator[bytes]:
    """OpenAI's chunks: the role, content deltas, the finish reason, usage when asked, `[DONE]`. A failure after the
    first byte is an `error` event (OpenAI's clients raise it) and no `[DONE]`; closing the body closes upstream."""
    created = int(time.time())
    pieces: list[str] = []
    first_token_ms: float | None = None
    try:
        yield _event(chunk(completion_id, ask.model, created, {"role": "assistant", "content": ""},
                           include_usage=ask.include_usage))
        for event in chain([first], upstream):
            if event.kind == "token":
                if first_token_ms is None:
                    first_token_ms = round((time.perf_counter() - started) * 1000, 1)
                pieces.append(event.text)
                yield _event(chunk(completion_id, ask.model, created, {"content": event.text},
                                   include_usage=ask.include_usage))
            elif event.kind == "done":
                timings = _timings(event.timings, started, first_token_ms)
                svc.metrics.answer(ask.model, timings)
                if keep is not None:
                    keep.store(svc, ask.model, event.text or "".join(pieces), timings, request_id)
                yield _event(chunk(completion_id, ask.model, created, {}, event.finish_reason or "stop",
                                   include_usage=ask.include_usage))
                if ask.include_usage:
                    yield _event(usage_chunk(completion_id, ask.model, created, timings))
                yield _event("[DONE]")
                return
    except ApiError as err:
        yield _event(err.openai_body())
    except Exception:
        log.exception("stream failed request_id=%s", request_id)
        yield _event(ApiError(INTERNAL_MESSAGE).openai_body())
    finally:
        close = getattr(upstream, "close", None)
        if close is not None:
            close()


@bp.get("/v1/models")
def list_models():
    listing = catalog(services(), g.request_id)
    data = [{"id": m["name"], "object": "model", "created": 0, "owned_by": m.get("provider") or m["backend"]}
            for m in listing["models"] if m["state"] in ("ready", "loading")]
    return jsonify({"object": "list", "data": data})
