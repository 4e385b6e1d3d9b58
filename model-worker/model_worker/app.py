"""The worker's Flask app factory: config, the two model slots, request ids, timing and the error shape."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .config import WorkerConfig
from .errors import STATUS_CODES, ApiError, BadRequest, error_body
from .loading import DeviceMemoryCheck, ModelLoader
from .slot import ModelSlot

try:  # errors gunicorn raises while the app reads a malformed request body
    from gunicorn.http.errors import NoMoreData, ParseException

    _BODY_READ_ERRORS: tuple[type[Exception], ...] = (ParseException, NoMoreData)
except ImportError:  # served by another WSGI server
    _BODY_READ_ERRORS = ()

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def default_loaders(config: WorkerConfig) -> dict[str, Callable[[], Any]]:
    """The real loaders: device and dtype chosen once, the memory plan checked on CUDA, each model loaded by its own
    class. ModelLoader calls them one at a time."""
    memory = DeviceMemoryCheck(config)

    def load(key: str, load_model: Callable[[WorkerConfig, Any], Any]) -> Any:
        from .runtime import choose_placement, prepare_torch

        placement = choose_placement(config)
        prepare_torch(placement)
        plan = memory.check(key, placement)
        model = load_model(config, placement)
        memory.loaded(plan, model)
        return model

    def load_omni():
        from .omni import OmniModel

        return load("omni", OmniModel.load)

    def load_detector():
        from .detector import DetectorModel

        return load("detector", DetectorModel.load)

    return {"omni": load_omni, "detector": load_detector}


def _slot_names(config: WorkerConfig) -> dict[str, str]:
    adapter = f"+{config.vl_lora_adapter}" if config.vl_lora_adapter else ""
    return {"omni": config.omni_model, "detector": f"{config.vl_base_model}{adapter}"}


def create_app(
    config: WorkerConfig | None = None,
    *,
    loaders: dict[str, Callable[[], Any]] | None = None,
    start_loading: bool = True,
) -> Flask:
    """Build the app. `loaders` replaces a model's loader (tests use it to hold a model in `loading`)."""
    config = config or WorkerConfig.from_env()
    app = Flask(__name__)
    app.config["WORKER"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    chosen = {**default_loaders(config), **(loaders or {})}
    names = _slot_names(config)
    app.extensions["model_slots"] = {
        key: ModelSlot(
            key, names[key], chosen[key], enabled=key in config.enabled_models,
            queue_size=config.queue_size, retry_after_s=config.retry_after_s,
        )
        for key in ("omni", "detector")
    }

    _install_request_hooks(app)
    _install_error_handlers(app)

    from .routes import cloud, detect, health, omni

    app.register_blueprint(health.bp)
    app.register_blueprint(omni.bp)
    app.register_blueprint(detect.bp)
    app.register_blueprint(cloud.blueprint(config))

    log.info("model-worker configuration: %s", config.describe())
    loader = ModelLoader(
        list(app.extensions["model_slots"].values()), retries=config.load_retries, retry_s=config.load_retry_s
    )
    app.extensions["model_loader"] = loader
    if start_loading:
        loader.start()
    return app


def slots() -> dict[str, ModelSlot]:
    return current_app.extensions["model_slots"]


def worker_config() -> WorkerConfig:
    return current_app.config["WORKER"]


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        started = getattr(g, "started", time.perf_counter())
        total = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"total;dur={total:.1f}"
        return response


def error_response(exc: ApiError):
    body = error_body(exc.code, exc.message, getattr(g, "request_id", "") or "")
    response = jsonify(body)
    response.status_code = exc.status
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        error = ApiError(exc.description or exc.name)
        error.status, error.code = status, STATUS_CODES.get(status, "bad_request" if status < 500 else "internal")
        if status == 413:
            error.message = "the request body is larger than this route accepts"
        elif status == 404:
            error.message = f"no route {request.path}"
        elif status == 405:
            error.message = f"{request.method} is not allowed on {request.path}"
        return error_response(error)

    def malformed_body(_exc: Exception):
        # gunicorn's reader of the body found a broken chunked encoding, or the body ended early: the client
        # closed, or stopped sending for BODY_TIMEOUT_S (gunicorn_worker.DeadlineSocket). gunicorn then closes.
        return error_response(
            BadRequest("the request body is malformed or stopped arriving before it was complete")
        )

    for exc_class in _BODY_READ_ERRORS:
        app.register_error_handler(exc_class, malformed_body)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error in %s %s (request %s)", request.method, request.path, g.get("request_id"))
        error = ApiError("an unexpected error occurred in the worker; see its log")
        return error_response(error)
