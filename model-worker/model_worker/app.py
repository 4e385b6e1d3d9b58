"""The worker's Flask app factory: config, the two model slots, the routes, request ids, timing and the error
shape. Routes reach the slots and the config through `services.services()`, never through this module, so the
routes are imported here at the top like any other module."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, g, request

from . import errors, metrics
from .config import WorkerConfig
from .loading import DeviceMemoryCheck, ModelLoader
from .routes import cloud, detect, health, omni, openapi
from .services import build_slots

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

    app.extensions["model_slots"] = build_slots(config, {**default_loaders(config), **(loaders or {})})

    _install_request_hooks(app)
    metrics.init_app(app)  # /metrics, and each request counted once it is answered
    errors.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(omni.bp)
    app.register_blueprint(detect.bp)
    app.register_blueprint(cloud.blueprint(config))
    app.register_blueprint(openapi.bp)

    log.info("model-worker configuration: %s", config.describe())
    loader = ModelLoader(
        list(app.extensions["model_slots"].values()), retries=config.load_retries, retry_s=config.load_retry_s
    )
    app.extensions["model_loader"] = loader
    if start_loading:
        loader.start()
    return app


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        started = getattr(g, "started", time.perf_counter())
        total = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"total;dur={total:.1f}"
        return response
