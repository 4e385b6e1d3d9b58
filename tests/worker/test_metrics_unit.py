"""model_worker/metrics.py in-process: each model's state, queue depth and memory from its slot at scrape time, GPU
memory from a stand-in for torch.cuda (absent on CPU, and never asking a device the worker holds nothing on), and
requests by route through the app's hooks."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from model_worker.app import create_app
from model_worker.config import WorkerConfig
from model_worker.inspection import Footprint
from model_worker.metrics import STATES, GpuMemoryCollector, Metrics, ModelsCollector
from model_worker.slot import ModelSlot

GIB = 1024**3


def samples(families) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value for family in families for s in family.samples}


def text_samples(text: str) -> dict[tuple[str, frozenset], float]:
    return samples(text_string_to_metric_families(text))


class Loaded:
    footprint = Footprint(device="cpu", dtype="float32", memory_bytes=12345, bytes_by_dtype={"float32": 12345})


def ready_slot(key: str = "omni", queue_size: int = 3) -> ModelSlot:
    slot = ModelSlot(key, f"{key}-name", Loaded, queue_size=queue_size)
    slot.set_ready(Loaded(), 0.1)
    return slot


def test_model_state_is_one_series_per_state():
    slots = {"omni": ready_slot(), "detector": ModelSlot("detector", "vl", Loaded, enabled=False)}
    got = samples(ModelsCollector(lambda: slots).collect())
    for model, current in (("omni", "ready"), ("detector", "disabled")):
        for state in STATES:
            expected = 1.0 if state == current else 0.0
            assert got[("model_worker_model_state", frozenset({"model": model, "state": state}.items()))] == expected
    assert got[("model_worker_model_memory_bytes", frozenset({"model": "omni"}.items()))] == 12345
    assert ("model_worker_model_memory_bytes", frozenset({"model": "detector"}.items())) not in got
    assert got[("model_worker_queue_limit", frozenset({"model": "omni"}.items()))] == 3


def test_queue_depth_and_running_follow_the_slot():
    slot = ready_slot(queue_size=4)
    collector = ModelsCollector(lambda: {"omni": slot})

    def read() -> tuple[float, float]:
        got = samples(collector.collect())
        key = frozenset({"model": "omni"}.items())
        return got[("model_worker_queue_depth", key)], got[("model_worker_inferences_running", key)]

    assert read() == (0, 0)
    running, waiting_started, release = threading.Event(), threading.Barrier(3), threading.Event()

    def hold():
        with slot.acquire(time.monotonic() + 30):
            running.set()
            release.wait(30)

    def wait_behind():
        waiting_started.wait(30)
        slot.run(lambda model: model, time.monotonic() + 30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert running.wait(10)
    waiters = [threading.Thread(target=wait_behind) for _ in range(2)]
    for thread in waiters:
        thread.start()
    waiting_started.wait(10)
    deadline = time.monotonic() + 10
    while read() != (2, 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert read() == (2, 1)
    release.set()
    for thread in (holder, *waiters):
        thread.join(30)
    assert read() == (0, 0)


def test_the_slots_are_read_at_each_scrape():
    current = {"omni": ready_slot()}
    collector = ModelsCollector(lambda: current)
    assert ("model_worker_model_state", frozenset({"model": "omni", "state": "ready"}.items())) in samples(
        collector.collect())
    current = {"other": ready_slot("other")}
    assert {labels for (_name, labels) in samples(collector.collect())} >= {frozenset({"model": "other"}.items())}


class FakeCuda:
    """torch.cuda's answers for a machine with `devices` ({index: (reserved, free, total)}); records the devices
    `mem_get_info` was asked about (asking creates a CUDA context there)."""

    def __init__(self, devices: dict[int, tuple[int, int, int]], available=True, initialized=True, broken=()):
        self.devices, self.available, self.initialized, self.broken = devices, available, initialized, set(broken)
        self.asked: list[int] = []

    def is_available(self):
        return self.available

    def is_initialized(self):
        return self.initialized

    def device_count(self):
        return len(self.devices)

    def memory_reserved(self, index):
        return self.devices[index][0]

    def mem_get_info(self, index):
        self.asked.append(index)
        if index in self.broken:
            raise RuntimeError("CUDA error: unspecified launch failure")
        return self.devices[index][1], self.devices[index][2]


def gpu_samples(cuda) -> dict:
    return samples(GpuMemoryCollector(cuda).collect())


@pytest.mark.parametrize("cuda", [FakeCuda({}, available=False), FakeCuda({0: (0, 1, 2)}, initialized=False)])
def test_no_gpu_series_on_cpu_or_before_cuda_is_used(cuda):
    assert list(GpuMemoryCollector(cuda).collect()) == []
    assert cuda.asked == []


def test_gpu_memory_per_device_the_worker_holds_memory_on():
    cuda = FakeCuda({0: (6 * GIB, 100 * GIB, 140 * GIB), 1: (0, 140 * GIB, 140 * GIB), 2: (GIB, 0, 0)},
                    broken={2})
    got = gpu_samples(cuda)
    device = frozenset({"device": "cuda:0"}.items())
    assert got[("model_worker_gpu_memory_used_bytes", device)] == 40 * GIB
    assert got[("model_worker_gpu_memory_free_bytes", device)] == 100 * GIB
    assert got[("model_worker_gpu_memory_total_bytes", device)] == 140 * GIB
    assert got[("model_worker_gpu_memory_reserved_bytes", device)] == 6 * GIB
    assert {labels for _name, labels in got} == {device}  # cuda:1 holds nothing of ours, cuda:2 failed to answer
    assert cuda.asked == [0, 2]


def test_the_real_torch_cuda_on_this_machine_gives_no_error():
    import torch

    families = list(GpuMemoryCollector().collect())
    if not torch.cuda.is_available():
        assert families == []


def worker_app(**env: str):
    config = WorkerConfig.from_env({"ENABLED_MODELS": "", **env})
    return create_app(config, start_loading=False)


def test_requests_by_route_and_the_models_on_the_workers_metrics():
    client = worker_app().test_client()
    assert client.post("/omni/chat", json={"messages": [{"role": "user", "content": "hi"}]}).status_code == 404
    client.get("/readyz")
    client.get("/no/such/route")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain; version=0.0.4")
    got = text_samples(response.text)

    def sample(name: str, **labels: str):
        return got.get((name, frozenset(labels.items())))

    assert sample("model_worker_http_requests_total", route="/omni/chat", method="POST", status="404") == 1
    assert sample("model_worker_http_requests_total", route="/readyz", method="GET", status="503") is None
    assert sample("model_worker_http_requests_total", route="/readyz", method="GET", status="200") == 1
    assert sample("model_worker_http_requests_total", route="<unmatched>", method="GET", status="404") == 1
    assert sample("model_worker_http_request_duration_seconds_count", route="/omni/chat", method="POST") == 1
    assert sample("model_worker_model_state", model="omni", state="disabled") == 1
    assert sample("model_worker_model_state", model="detector", state="ready") == 0
    assert not any(name.startswith("model_worker_gpu_") for name, _ in got)


def test_a_worker_stream_is_counted_when_it_closes():
    from flask import Response

    app = worker_app()
    app.add_url_rule("/stream-test", "stream_test",
                     lambda: Response(iter([b"x\n"]), mimetype="application/x-ndjson"))
    client = app.test_client()
    response = client.get("/stream-test")
    opened = text_samples(client.get("/metrics").text)
    assert opened[("model_worker_streams_open", frozenset({"route": "/stream-test"}.items()))] == 1
    response.close()
    closed = text_samples(client.get("/metrics").text)
    assert closed[("model_worker_streams_open", frozenset({"route": "/stream-test"}.items()))] == 0
    key = frozenset({"route": "/stream-test", "method": "GET", "status": "200"}.items())
    assert closed[("model_worker_http_requests_total", key)] == 1


def test_each_app_has_its_own_registry():
    first, second = worker_app().test_client(), worker_app().test_client()
    first.get("/healthz")
    key = ("model_worker_http_requests_total", frozenset({"route": "/healthz", "method": "GET",
                                                          "status": "200"}.items()))
    assert text_samples(first.get("/metrics").text)[key] == 1
    assert key not in text_samples(second.get("/metrics").text)


def test_metrics_object_with_a_fake_gpu_renders_every_family():
    metrics = Metrics(lambda: {"omni": ready_slot()}, gpu=FakeCuda({0: (GIB, 2 * GIB, 3 * GIB)}))
    body, content_type = metrics.render("application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text")
    names = {family.name for family in openmetrics_families(body.decode())}
    assert {"model_worker_gpu_memory_used_bytes", "model_worker_model_state", "model_worker_queue_depth",
            "model_worker_http_requests"} <= names
