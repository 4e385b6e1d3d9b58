"""Prometheus metrics of the llm-api, and `GET /metrics` (Prometheus' text format, or OpenMetrics when asked).

What is counted, and where it is hooked:
- every request by route (the Flask rule, e.g. `/sessions/<session_id>`, never the raw path: the label's values are
  bounded), method and status, and its latency: in `after_request`, a stream when its body closes;
- streams open (NDJSON and server-sent events) by route;
- time to first token, tokens per second and token counts by model, when an answer completes (`answer`, called by
  the chat routes); only models that answered get a series, so a caller's made-up names add none;
- upstream failures by upstream and contract code (`upstream_error`, called from `Upstream.fail`, where each is
  logged once).

Under gunicorn the values live in `PROMETHEUS_MULTIPROC_DIR` (set up and wiped per start by `gunicorn.conf.py`), and a
scrape of any worker process adds up all of them (prometheus_client's multiprocess mode; the streams gauge counts
live processes only). Without that variable (the Flask test client, a plain `python`) each app has its own registry,
so every `create_app` starts from zero and nothing global is left for a test to reset.

`METRICS_PORT` (unset: off) opens an internal listener that serves `/metrics` only, without `API_KEY`; on the API
port `/metrics` is an ordinary route, behind `API_KEY` when one is set (docs/api.md, "Metrics").
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.wsgi import ClosingIterator

from .config import Config
from .errors import NotFound

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "<unmatched>"  # the route label of a request no rule matched (404s, whatever their path)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other: `other`
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
TOKENS_PER_S_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


def multiprocess_dir() -> str | None:
    """The multiprocess directory, when prometheus_client was imported in that mode (it decides at import)."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and values.ValueClass is not values.MutexValue else None


class Metrics:
    """The llm-api's metrics. `path`: a multiprocess directory (values in files shared by the gunicorn workers);
    None: in this object's own registry."""

    def __init__(self, path: str | None = None):
        self.registry = CollectorRegistry()
        if path:
            MultiProcessCollector(self.registry, path=path)
        own = None if path else self.registry  # multiprocess: the collector above reads every process's files
        self.requests = Counter("llm_api_http_requests", "HTTP requests answered, by route, method and status.",
                                ("route", "method", "status"), registry=own)
        self.latency = Histogram("llm_api_http_request_duration_seconds",
                                 "Time from a request's arrival to its last byte (a stream: until it closes).",
                                 ("route", "method"), buckets=REQUEST_BUCKETS, registry=own)
        self.streams = Gauge("llm_api_streams_open", "Streamed responses (NDJSON, server-sent events) open now.",
                             ("route",), multiprocess_mode="livesum", registry=own)
        self.first_token = Histogram("llm_api_time_to_first_token_seconds",
                                     "From a streamed chat request's arrival to its first token, by model.",
                                     ("model",), buckets=FIRST_TOKEN_BUCKETS, registry=own)
        self.tokens_per_s = Histogram("llm_api_tokens_per_second",
                                      "Generation speed of a completed answer (the backend's figure), by model.",
                                      ("model",), buckets=TOKENS_PER_S_BUCKETS, registry=own)
        self.tokens = Counter("llm_api_tokens", "Tokens of completed answers, by model and kind (prompt, completion).",
                              ("model", "kind"), registry=own)
        self.answers = Counter("llm_api_chat_answers", "Chat answers completed, by model.", ("model",), registry=own)
        self.upstream_errors = Counter("llm_api_upstream_errors",
                                       "Failures of Ollama, the model-worker and OpenAI-compatible backends, by "
                                       "upstream and contract code.", ("upstream", "kind"), registry=own)

    @classmethod
    def for_process(cls) -> Metrics:
        return cls(multiprocess_dir())

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(max(0.0, seconds))

    def upstream_error(self, upstream: str, kind: str) -> None:
        self.upstream_errors.labels(upstream, kind).inc()

    def answer(self, model: str, timings: Mapping[str, Any]) -> None:
        """A completed chat answer's timings (the contract's `timings`: milliseconds, token counts, tokens/s)."""
        self.answers.labels(model).inc()
        first_ms = _number(timings.get("first_token_ms"))
        if first_ms is not None:
            self.first_token.labels(model).observe(first_ms / 1000)
        rate = _number(timings.get("tokens_per_s"))
        if rate is not None and rate > 0:
            self.tokens_per_s.labels(model).observe(rate)
        for kind in ("prompt", "completion"):
            count = _number(timings.get(f"{kind}_tokens"))
            if count:
                self.tokens.labels(model, kind).inc(count)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def on_metrics_port(config: Config) -> bool:
    """True when this request came in on METRICS_PORT. The port of the socket it arrived on, never the Host header
    or SERVER_PORT (which gunicorn takes from it): a caller cannot claim the internal listener."""
    if config.metrics_port is None:
        return False
    sock = request.environ.get("gunicorn.socket")
    with contextlib.suppress(OSError, AttributeError, TypeError, IndexError):
        return sock.getsockname()[1] == config.metrics_port  # type: ignore[union-attr]
    return False


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def _method() -> str:
    return request.method if request.method in METHODS else "other"


def init_app(app: Flask, config: Config, metrics: Metrics) -> None:
    """`/metrics`, the request hooks, and `metrics` as `app.extensions["metrics"]`. Registered after the app's own
    request hooks, so a request here already has its id, start time and API_KEY check."""
    app.extensions["metrics"] = metrics

    @app.before_request
    def _internal_listener_serves_metrics_only():
        if on_metrics_port(config) and request.path != "/metrics":
            raise NotFound("METRICS_PORT serves /metrics only; call the API on its own port.")

    @app.after_request
    def _observe(response: Response) -> Response:
        route, method, status = _route(), _method(), response.status_code
        started = g.get("request_start") or time.perf_counter()
        if not response.is_streamed:  # the body is built: its time is the handler's
            metrics.request_done(route, method, status, time.perf_counter() - started)
            return response
        metrics.streams.labels(route).inc()
        done: list[bool] = []

        def _closed() -> None:  # the stream ended, failed or lost its client: the server closed its body
            if not done:
                done.append(True)
                metrics.streams.labels(route).dec()
                metrics.request_done(route, method, status, time.perf_counter() - started)

        # Wrapped rather than `call_on_close`: a `direct_passthrough` body reaches the server as it is, so the
        # response's own close callbacks would never run.
        response.response = ClosingIterator(response.response, _closed)
        return response

    def scrape() -> Response:
        body, content_type = metrics.render(request.headers.get("Accept"))
        return Response(body, status=200, content_type=content_type, headers={"Cache-Control": "no-store"})

    app.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])
