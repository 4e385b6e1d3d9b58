"""`GET /realtime/status` (is the real-time voice service running, loaded, busy?) and `GET /realtime/api/chat`
(its Moshi-protocol WebSocket, relayed; see llm_api/realtime.py). `/realtime/api/chat` is the path Moshi's own
clients use under a base URL: `python -m moshi.client --url http://localhost:8080/realtime` talks through here."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from .. import realtime
from ..errors import BackendUnavailable, Forbidden
from ..services import services

bp = Blueprint("realtime", __name__)

def _client() -> realtime.RealtimeClient:
    client = services().realtime
    if client is None:
        raise BackendUnavailable(realtime.SWITCHED_OFF)
    return client


@bp.get("/realtime/status")
def status():
    code, body = _client().status(g.request_id)
    response = jsonify(body)
    response.status_code = code
    if code == 503:
        response.headers["Retry-After"] = "5"
    return response


def _check_origin() -> None:
    origin = request.headers.get("Origin")
    allowed = services().config.cors_origins
    if origin is not None and "*" not in allowed and origin not in allowed:
        raise Forbidden(f"Origin {origin[:64]!r} may not open the real-time voice WebSocket; "
                        "list it in CORS_ORIGINS.")


@bp.get("/realtime/api/chat")
def chat_without_upgrade():
    """The same path without a WebSocket upgrade (werkzeug routes upgrades to their own rule): 400 saying so."""
    realtime.check_upgrade(request.headers)
    return chat()


@bp.route("/realtime/api/chat", websocket=True, endpoint="chat")
def chat():
    _check_origin()
    realtime.check_upgrade(request.headers)
    client = _client()
    browser = request.environ.get("gunicorn.socket")
    if browser is None:
        raise BackendUnavailable("The real-time voice WebSocket needs the llm-api under gunicorn.")
    upstream, first = client.open(request.headers, request.query_string.decode("latin-1"),
                                  request.remote_addr or "", g.request_id)
    request.environ[realtime.TAKEN_OVER] = True  # from here the socket is the relay's (TakeOverMiddleware)
    realtime.relay(browser, upstream, first, g.request_id)
    return Response(status=101)
