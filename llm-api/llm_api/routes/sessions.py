"""`GET /sessions`, `GET /sessions/<id>`, `DELETE /sessions/<id>`: the stored chat history."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, jsonify, request

from ..schemas import (
    SessionDetail,
    SessionsResponse,
    SessionSummary,
    parse_sessions_query,
    session_id,
    session_not_found,
)
from ..services import services

bp = Blueprint("sessions", __name__)


@bp.get("/sessions")
def list_sessions():
    query = parse_sessions_query(request.args)
    rows = services().store.list_sessions(query.limit, query.before)  # the store's rows are the contract's shape
    return jsonify(SessionsResponse(sessions=cast(list[SessionSummary], rows)))


@bp.get("/sessions/<sid>")
def get_session(sid: str):
    session = services().store.get_session(session_id(sid, "id"))
    if session is None:
        raise session_not_found(sid)
    return jsonify(cast(SessionDetail, session))


@bp.delete("/sessions/<sid>")
def delete_session(sid: str):
    if not services().store.delete_session(session_id(sid, "id")):
        raise session_not_found(sid)
    return "", 204
