"""`POST /ask-llm`: one turn of a chat session, answered whole or as an NDJSON stream."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

from flask import Blueprint, g, jsonify, request

from ..errors import INTERNAL_MESSAGE, ApiError, BackendError
from ..schemas import (
    AskRequest,
    AskResponse,
    StreamDone,
    StreamStart,
    StreamToken,
    Timings,
    parse_ask,
    read_json,
    session_not_found,
)
from ..services import Services, ndjson_line, ndjson_response, services
from ..store import Message, new_id
from ..upstream import ChatEvent

bp = Blueprint("chat", __name__)
log = logging.getLogger("llm_api.chat")


def _messages(ask: AskRequest, history: list[dict[str, str]]) -> list[dict[str, str]]:
    system = [{"role": "system", "content": ask.system}] if ask.system else []
    return [*system, *history, {"role": "user", "content": ask.prompt}]


@dataclass
class Turn:
    """One request's turn: what was asked, where it is stored, and when it started."""

    ask: AskRequest
    session_id: str
    message_id: str
    request_id: str
    started: float
    first_token_ms: float | None = None

    def mark_token(self) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = self.elapsed_ms()

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)

    def timings(self, backend: Timings) -> Timings:
        """The backend's timings (load, token counts, tokens/s) with the two the llm-api measures on its own clock:
        `total_ms` (request received to answer complete, what the caller waited) and `first_token_ms` (streams),
        so that first_token_ms <= total_ms always holds."""
        return {**backend, "total_ms": self.elapsed_ms(), "first_token_ms": self.first_token_ms}


def _store(svc: Services, turn: Turn, answer: str, timings: Timings) -> None:
    ask = turn.ask
    user = Message(new_id(), "user", ask.prompt, ask.model)
    assistant = Message(turn.message_id, "assistant", answer, ask.model, timings)
    if not svc.store.add_exchange(turn.session_id, user, assistant, create=ask.session_id is None):
        log.warning("session %s was deleted while answering; exchange not stored request_id=%s",
                    turn.session_id, turn.request_id)


@bp.post("/ask-llm")
def ask_llm():
    svc = services()
    ask = parse_ask(read_json(request), svc.config.default_model, svc.config.max_prompt_chars)
    if ask.session_id is None:
        session_id, history = new_id(), []
    else:
        session_id, history = ask.session_id, svc.store.history(ask.session_id)
        if history is None:
            raise session_not_found(ask.session_id)
    messages = _messages(ask, history)
    turn = Turn(ask, session_id, new_id(), g.request_id, g.request_start)

    if not ask.stream:
        answer = svc.chat.chat(ask.model, messages, ask.options, turn.request_id)
        timings = turn.timings(answer.timings)
        svc.metrics.answer(ask.model, timings)
        _store(svc, turn, answer.text, timings)
        return jsonify(AskResponse(answer=answer.text, model=ask.model, session_id=session_id,
                                   message_id=turn.message_id, timings=timings))

    events = svc.chat.chat_stream(ask.model, messages, ask.options, turn.request_id)
    try:
        first = next(events)  # a failure before the first piece is still a plain HTTP error
    except StopIteration:
        raise BackendError("The backend's stream was empty; try again.") from None
    if first.kind == "token":
        turn.mark_token()
    return ndjson_response(_stream(svc, turn, first, events))


def _stream(svc: Services, turn: Turn, first: ChatEvent, upstream: Iterator[ChatEvent]) -> Iterator[bytes]:
    """The NDJSON body. Closing it (client gone) closes the upstream request; only a done answer is stored."""
    pieces: list[str] = []
    try:
        yield ndjson_line(StreamStart(type="start", session_id=turn.session_id, model=turn.ask.model,
                                      message_id=turn.message_id))
        for event in chain([first], upstream):
            if event.kind == "token":
                turn.mark_token()
                pieces.append(event.text)
                yield ndjson_line(StreamToken(type="token", text=event.text))
            elif event.kind == "done":
                answer = event.text or "".join(pieces)
                timings = turn.timings(event.timings)
                svc.metrics.answer(turn.ask.model, timings)
                _store(svc, turn, answer, timings)
                yield ndjson_line(StreamDone(type="done", answer=answer, timings=timings))
                return
    except ApiError as err:
        yield ndjson_line({"type": "error", **err.body(turn.request_id)})
    except Exception:
        log.exception("stream failed request_id=%s", turn.request_id)
        yield ndjson_line({"type": "error", **ApiError(INTERNAL_MESSAGE).body(turn.request_id)})
    finally:
        close = getattr(upstream, "close", None)
        if close is not None:
            close()
