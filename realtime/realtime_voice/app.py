"""The aiohttp application: `GET /api/chat` (the Moshi WebSocket), `GET /healthz` (always 200 while the process
lives, with the model's state), `GET /readyz` (200 once the model is loaded, else 503) and `GET /metrics`
(Prometheus, metrics.py)."""

from __future__ import annotations

import logging
import re
import uuid
import weakref

from aiohttp import web

from . import protocol
from .config import Config
from .conversation import Conversation
from .engine import LOADING, Engine
from .metrics import CONTENT_TYPE

log = logging.getLogger("realtime_voice.app")

ENGINE = web.AppKey("engine", Engine)
SOCKETS = web.AppKey("sockets", weakref.WeakSet)


async def _refuse(ws: web.WebSocketResponse, message: str) -> web.WebSocketResponse:
    await ws.send_bytes(protocol.error(message))
    await ws.close(code=protocol.CLOSE_TRY_AGAIN_LATER, message=message.encode()[:120])
    return ws


async def chat(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    ws = web.WebSocketResponse(max_msg_size=engine.config.max_message_bytes, autoping=True, heartbeat=30)
    await ws.prepare(request)
    peer = request.headers.get("X-Forwarded-For", request.remote or "?")
    slot = engine.acquire()
    if slot is None and not engine.ready:
        if engine.status.state == LOADING:
            return await _refuse(ws, f"the model is still loading ({engine.status.progress}), try again later")
        return await _refuse(ws, f"the model failed to load: {engine.status.error}")
    if slot is None:
        busy = engine.config.max_conversations
        log.info("refused %s: %d of %d conversations in progress", peer, busy, busy)
        return await _refuse(ws, f"busy: {busy} of {busy} conversations in progress, try again later")
    request.app[SOCKETS].add(ws)
    await Conversation(ws, slot, engine, peer).run()  # gives the slot back, however it ends
    return ws


async def healthz(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].describe())


async def metrics(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.Response(body=engine.metrics.render(engine.status.state), headers={"Content-Type": CONTENT_TYPE})


async def readyz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response(engine.describe(), status=200 if engine.ready else 503)


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[SOCKETS]):
        await ws.close(code=protocol.CLOSE_GOING_AWAY, message=b"server shutting down")


async def _stop_engine(app: web.Application) -> None:
    app[ENGINE].close()


ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
ERROR_MESSAGES = {
    400: "This is the real-time voice WebSocket: connect to /api/chat with a WebSocket client (the Moshi protocol).",
    404: "No such route: the service serves /api/chat (WebSocket), /healthz, /readyz and /metrics.",
    405: "This method is not allowed on this route; use one listed in the Allow header.",
}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@web.middleware
async def _json_errors(request: web.Request, handler):
    """Every HTTP error is the contract's JSON shape (code, one human sentence, request id), aiohttp's own too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        body = {"error": {"code": ERROR_CODES.get(exc.status, "bad_request" if exc.status < 500 else "internal"),
                          "message": ERROR_MESSAGES.get(exc.status, exc.reason), "request_id": request_id}}
        headers = {"X-Request-ID": request_id}
        if "Allow" in exc.headers:
            headers["Allow"] = exc.headers["Allow"]
        return web.json_response(body, status=exc.status, headers=headers)


def create_app(config: Config, engine: Engine | None = None) -> web.Application:
    app = web.Application(middlewares=[_json_errors], client_max_size=64 * 1024)
    app[ENGINE] = engine or Engine(config)
    app[SOCKETS] = weakref.WeakSet()
    app.router.add_get("/api/chat", chat)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.on_shutdown.append(_close_sockets)
    app.on_cleanup.append(_stop_engine)
    return app
