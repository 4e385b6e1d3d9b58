"""`GET /sessions`, `GET /sessions/<id>`, `DELETE /sessions/<id>`: the stored chat history."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import ApiError
from ..schemas import parse_sessions_query, session_id
from ..services import services

bp = Blueprint("sessions", __name__)


def _missing(sid: str) -> ApiError:
    return ApiError(404, "not_found", f"Session '{sid}' does not exist.")


@bp.get("/sessions")
def list_sessions():
    query = parse_sessions_query(request.args)
    return jsonify({"sessions": services().store.list_sessions(query.limit, query.before)})


@bp.get("/sessions/<sid>")
def get_session(sid: str):
    session = services().store.get_session(session_id(sid, "id"))
    if session is None:
        raise _missing(sid)
    return jsonify(session)


@bp.delete("/sessions/<sid>")
def delete_session(sid: str):
    if not services().store.delete_session(session_id(sid, "id")):
        raise _missing(sid)
    return "", 204
