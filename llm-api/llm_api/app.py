"""The app factory: `create_app(config=None)` builds the llm-api from a `Config` (default: the environment)."""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import time
import uuid

from flask import Flask, Response, g, request
from flask_cors import CORS

from . import errors, metrics
from .chat_backends import ChatBackends
from .config import Config, load_config
from .errors import UNAUTHORIZED_MESSAGE, Unauthorized
from .ollama import OllamaClient
from .openai_backend import OpenAIBackend
from .realtime import RealtimeClient, TakeOverMiddleware
from .routes import chat, health, models, openai_compat, openapi, realtime, sessions, worker_proxy
from .services import Services
from .store import open_store
from .upstream import AnswerLimits, http_session
from .worker import WorkerClient

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PUBLIC_PATHS = {"/healthz", "/readyz", "/openapi.json"}
CORS_METHODS = ["GET", "POST", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Content-Type", "Authorization", "X-Request-ID", "X-Session-ID"]
CORS_EXPOSE = ["X-Request-ID", "Server-Timing", "X-Session-ID"]
CORS_MAX_AGE_S = 600


def create_app(config: Config | None = None) -> Flask:
    config = config or load_config(os.environ)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_json_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    store = open_store(config)  # SQLite at DATABASE_PATH, or PostgreSQL with DATABASE_URL
    store.migrate()
    http = http_session()
    meter = metrics.Metrics.for_process()
    limits = AnswerLimits(total_timeout_s=config.upstream_total_timeout_s, max_body_bytes=config.max_upstream_bytes)
    ollama = (OllamaClient(config.ollama_url, http, config.upstream_timeout_s, limits, meter)
              if config.ollama_enabled else None)
    worker = WorkerClient(config.worker_url, http, config.upstream_timeout_s, limits, meter)
    backends = {b.name: OpenAIBackend(b, http, config.upstream_timeout_s, limits, meter)
                for b in config.openai_backends}
    app.extensions["llm_api"] = Services(config=config, store=store, ollama=ollama, worker=worker,
                                         chat=ChatBackends(ollama, worker, backends), metrics=meter,
                                         realtime=RealtimeClient(config.realtime_url, http) if config.realtime_url
                                         else None)

    _init_request_hooks(app, config)
    metrics.init_app(app, config, meter)  # after the request hooks: a request has its id and key check first
    _init_preflight_headers(app, config)  # registered before flask-cors, so it runs after it
    CORS(app, resources={r"/*": {"origins": list(config.cors_origins)}}, methods=CORS_METHODS,
         allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSE, max_age=CORS_MAX_AGE_S, send_wildcard=False,
         always_send=False, vary_header=True)
    errors.init_app(app)
    for blueprint in (chat.bp, models.bp, sessions.bp, worker_proxy.bp, health.bp, openai_compat.bp, openapi.bp,
                      realtime.bp):
        app.register_blueprint(blueprint)
    app.wsgi_app = TakeOverMiddleware(app.wsgi_app)  # type: ignore[method-assign]  # the realtime WebSocket relay
    return app


def _init_request_hooks(app: Flask, config: Config) -> None:
    @app.before_request
    def _start():
        g.request_start = time.perf_counter()
        _bound_body_reads(config.body_timeout_s)
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        if _is_preflight():
            preflight = Response(status=204)  # a preflight answers on every path, before auth and routing
            del preflight.headers["Content-Type"]
            return preflight
        if config.api_key and request.path not in PUBLIC_PATHS and not metrics.on_metrics_port(config):
            scheme, _, key = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), config.api_key.encode()):
                raise Unauthorized(UNAUTHORIZED_MESSAGE)
        if request.method == "OPTIONS":  # not a preflight (no Access-Control-Request-Method): after the key check
            options = Response(status=204)
            del options.headers["Content-Type"]
            return options
        return None

    @app.teardown_request
    def _unbound(_exc: BaseException | None) -> None:
        sock, prior = g.pop("body_socket", None), g.pop("body_socket_timeout", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(prior)  # a streamed answer is written without the body's deadline

    @app.after_request
    def _stamp(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        started = g.get("request_start")
        total = 0.0 if started is None else (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"total;dur={total:.1f}"
        return response


def _is_preflight() -> bool:
    """A CORS preflight is an OPTIONS naming the method it asks for; a plain OPTIONS is an ordinary request."""
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _bound_body_reads(timeout_s: float) -> None:
    """A client that sends headers and then stops sending its body must not hold a worker forever: each read of
    the body under gunicorn waits at most `timeout_s` (a stall raises TimeoutError, answered 400 in errors.py)."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None or not hasattr(sock, "settimeout"):
        return
    with contextlib.suppress(OSError):
        g.body_socket_timeout = sock.gettimeout()
        sock.settimeout(timeout_s)
        g.body_socket = sock


def _init_preflight_headers(app: Flask, config: Config) -> None:
    """flask-cors echoes only the requested headers; the contract wants the full list on every preflight."""
    any_origin = "*" in config.cors_origins

    @app.after_request
    def _preflight(response: Response) -> Response:
        origin = request.headers.get("Origin")
        vary = response.headers.get("Vary")  # the raw header: `response.vary` parses and re-dumps it every time
        if not vary:
            response.headers["Vary"] = "Origin"
        elif "origin" not in (item.strip().lower() for item in vary.split(",")):
            response.headers["Vary"] = f"{vary}, Origin"
        allowed = origin is not None and (any_origin or origin in config.cors_origins)
        if _is_preflight() and allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = ", ".join(CORS_METHODS)
            response.headers["Access-Control-Allow-Headers"] = ", ".join(CORS_HEADERS)
            response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
        return response
