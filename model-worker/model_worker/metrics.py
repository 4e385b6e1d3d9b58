"""Prometheus metrics of the model-worker, and `GET /metrics` (Prometheus' text format, or OpenMetrics when asked).

- Requests by route (the Flask rule, never the raw path), method and status, their latency, and streams open:
  counted in `after_request` (a stream when its body closes), like the llm-api's.
- Each model's state, queue depth and memory, read from its `ModelSlot` at scrape time (`ModelsCollector`).
- GPU memory per CUDA device the worker holds memory on (`GpuMemoryCollector`): used, free and total as the driver
  reports them (every process on the device: Ollama too), and what this worker's torch allocator has reserved.
  Absent on CPU; a scrape never creates a CUDA context of its own.

Under gunicorn the request metrics live in `PROMETHEUS_MULTIPROC_DIR` (set up and wiped per start by
`gunicorn.conf.py`), so they survive a restarted worker process; without it each app has its own registry, and
every `create_app` starts from zero. The model and GPU figures are always live, from the process that answers.
The worker has no key: like all its routes, `/metrics` is reached only on the compose back network.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.wsgi import ClosingIterator

from .slot import DISABLED, FAILED, LOADING, READY, ModelSlot

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATES = (DISABLED, LOADING, READY, FAILED)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def multiprocess_dir() -> str | None:
    """The multiprocess directory, when prometheus_client was imported in that mode (it decides at import)."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and values.ValueClass is not values.MutexValue else None


class ModelsCollector:
    """State (one series per state, 1 for the current one), queue depth, running inferences and measured memory of
    each model, from the slots `slots()` returns at scrape time."""

    def __init__(self, slots: Callable[[], Mapping[str, ModelSlot]]):
        self._slots = slots

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("model_worker_model_state", "1 for the model's current state "
                                  "(disabled, loading, ready, failed), else 0.", labels=["model", "state"])
        depth = GaugeMetricFamily("model_worker_queue_depth", "Requests admitted for the model and not running on "
                                  "it: waiting, decoding their input or finishing.", labels=["model"])
        running = GaugeMetricFamily("model_worker_inferences_running", "Requests running on the model now.",
                                    labels=["model"])
        limit = GaugeMetricFamily("model_worker_queue_limit", "Requests that may wait besides the running one "
                                  "(QUEUE_SIZE); one more is refused with 429.", labels=["model"])
        memory = GaugeMetricFamily("model_worker_model_memory_bytes", "Bytes of the loaded model's parameters, as "
                                   "measured after loading.", labels=["model"])
        for key, slot in self._slots().items():
            for name in STATES:
                state.add_metric([key, name], 1.0 if slot.state == name else 0.0)
            waiting, active = slot.occupancy()
            depth.add_metric([key], waiting)
            running.add_metric([key], active)
            limit.add_metric([key], slot.queue_size)
            measured = slot.info().get("memory_bytes")
            if isinstance(measured, int):
                memory.add_metric([key], measured)
        yield from (state, depth, running, limit, memory)


def _torch_cuda() -> Any:
    import torch

    return torch.cuda


class GpuMemoryCollector:
    """Memory of each CUDA device this process holds memory on. `cuda`: torch.cuda (tests pass a stand-in)."""

    def __init__(self, cuda: Any = None):
        self._cuda = cuda

    def collect(self) -> Iterator[Metric]:
        cuda = self._cuda or _torch_cuda()
        if not cuda.is_available() or not cuda.is_initialized():  # CPU, or nothing on a GPU yet
            return
        used = GaugeMetricFamily("model_worker_gpu_memory_used_bytes", "Device memory in use by every process "
                                 "(total - free, as the driver reports it).", labels=["device"])
        free = GaugeMetricFamily("model_worker_gpu_memory_free_bytes", "Device memory free.", labels=["device"])
        total = GaugeMetricFamily("model_worker_gpu_memory_total_bytes", "Device memory in all.", labels=["device"])
        reserved = GaugeMetricFamily("model_worker_gpu_memory_reserved_bytes", "Device memory this worker's torch "
                                     "caching allocator holds (its tensors and its cache).", labels=["device"])
        for index in range(cuda.device_count()):
            try:
                held = cuda.memory_reserved(index)
                if not held:  # no memory of ours there: asking would create a context on it
                    continue
                free_bytes, total_bytes = cuda.mem_get_info(index)
            except RuntimeError as exc:  # a device that fails to answer is left out, the scrape still succeeds
                log.warning("GPU memory of cuda:%d unreadable: %s", index, exc)
                continue
            device = f"cuda:{index}"
            used.add_metric([device], total_bytes - free_bytes)
            free.add_metric([device], free_bytes)
            total.add_metric([device], total_bytes)
            reserved.add_metric([device], held)
        yield from (used, free, total, reserved)


class Metrics:
    """The worker's metrics. `path`: a multiprocess directory (request metrics in files that outlive a restarted
    worker process); None: in this object's own registry."""

    def __init__(self, slots: Callable[[], Mapping[str, ModelSlot]], path: str | None = None, gpu: Any = None):
        self.registry = CollectorRegistry()
        if path:
            MultiProcessCollector(self.registry, path=path)
        own = None if path else self.registry
        self.requests = Counter("model_worker_http_requests", "HTTP requests answered, by route, method and status.",
                                ("route", "method", "status"), registry=own)
        self.latency = Histogram("model_worker_http_request_duration_seconds",
                                 "Time from a request's arrival to its last byte (a stream: until it closes).",
                                 ("route", "method"), buckets=REQUEST_BUCKETS, registry=own)
        self.streams = Gauge("model_worker_streams_open", "Streamed responses (NDJSON) open now.", ("route",),
                             multiprocess_mode="livesum", registry=own)
        self.registry.register(ModelsCollector(slots))
        self.registry.register(GpuMemoryCollector(gpu))

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(max(0.0, seconds))

    def render(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def init_app(app: Flask) -> Metrics:
    """`/metrics` and the request hooks; the metrics as `app.extensions["metrics"]`. The slots are read from
    `app.extensions["model_slots"]` at each scrape (tests hand one app's slots to another)."""
    metrics = Metrics(lambda: app.extensions["model_slots"], multiprocess_dir())
    app.extensions["metrics"] = metrics

    @app.after_request
    def _observe(response: Response) -> Response:
        route = _route()
        method = request.method if request.method in METHODS else "other"
        status = response.status_code
        started = g.get("started") or time.perf_counter()
        if not response.is_streamed:
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
    return metrics
