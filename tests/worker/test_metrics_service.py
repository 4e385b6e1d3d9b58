"""Metrics of the running stack: the real model-worker (gunicorn, tiny Omni on CPU) and the real llm-api in front of
it, each read on its /metrics after some requests, and a REAL Prometheus (Debian's `prometheus`) scraping both every
second, whose query API then returns their series."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.doubles.stack import ARTIFACTS, llm_api_service, ollama_double
from tests.support.procs import free_port
from tests.support.prometheus import prometheus_server, sample
from tests.worker.stack import model_worker_service

pytestmark = pytest.mark.slow
API_KEY = "metrics-key"
CHAT = {"messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def stack(tiny_checkpoints, tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics-stack")
    metrics_port = free_port()
    api_env = {"API_KEY": API_KEY, "METRICS_PORT": str(metrics_port), "WEB_CONCURRENCY": "2"}
    with model_worker_service(tiny_checkpoints, env={"ENABLED_MODELS": "omni"}, name="metrics-worker") as worker, \
            ollama_double() as ollama, \
            llm_api_service(ollama.url, worker.url, root / "llm-api.sqlite3", env=api_env) as api:
        api_metrics = f"127.0.0.1:{metrics_port}"
        jobs = {"llm-api": [api_metrics], "model-worker": [f"127.0.0.1:{worker.port}"]}
        with prometheus_server(jobs, root / "prometheus", log_dir=ARTIFACTS / "prometheus") as prom:
            yield {"api": api, "api_metrics": "http://" + api_metrics, "worker": worker, "prometheus": prom}


def worker_chat(stack, stream: bool) -> list[dict]:
    with requests.post(stack["worker"].url + "/omni/chat", json={**CHAT, "stream": stream}, stream=stream,
                       timeout=120) as response:
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.iter_lines() if line]


def test_the_workers_metrics_after_requests(stack):
    worker_chat(stack, stream=False)
    assert worker_chat(stack, stream=True)[-1]["type"] == "done"
    deadline = time.monotonic() + 10  # a stream is counted when the server closes it, just after its last byte
    while sample(text := requests.get(stack["worker"].url + "/metrics", timeout=10).text,
                 "model_worker_http_requests_total", route="/omni/chat", method="POST", status="200") != 2:
        assert time.monotonic() < deadline, text
        time.sleep(0.1)
    assert sample(text, "model_worker_http_request_duration_seconds_count", route="/omni/chat", method="POST") == 2
    assert sample(text, "model_worker_streams_open", route="/omni/chat") == 0
    assert sample(text, "model_worker_model_state", model="omni", state="ready") == 1
    assert sample(text, "model_worker_model_state", model="omni", state="loading") == 0
    assert sample(text, "model_worker_model_state", model="detector", state="disabled") == 1
    assert sample(text, "model_worker_queue_depth", model="omni") == 0
    assert sample(text, "model_worker_inferences_running", model="omni") == 0
    assert sample(text, "model_worker_queue_limit", model="omni") == 4
    assert sample(text, "model_worker_model_memory_bytes", model="omni") > 0
    assert "model_worker_gpu_memory" not in text  # CPU: no GPU series at all


def test_omni_through_the_llm_api_has_first_token_and_speed(stack):
    response = requests.post(stack["api"].url + "/ask-llm", json={"prompt": "Hi", "model": "omni", "stream": True},
                             headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120)
    assert response.status_code == 200 and b'"type":"done"' in response.content, response.text
    # a stream is counted when the server closes it, just after the client has read its last line
    deadline = time.monotonic() + 10
    while True:
        text = requests.get(stack["api_metrics"] + "/metrics", timeout=10).text
        counted = sample(text, "llm_api_http_requests_total", route="/ask-llm", method="POST", status="200")
        if counted is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert sample(text, "llm_api_time_to_first_token_seconds_count", model="omni") == 1
    assert sample(text, "llm_api_tokens_per_second_count", model="omni") == 1
    assert sample(text, "llm_api_chat_answers_total", model="omni") == 1
    assert sample(text, "llm_api_http_requests_total", route="/ask-llm", method="POST", status="200") == 1


def test_prometheus_scrapes_both_services(stack):
    prom = stack["prometheus"]
    requests.get(stack["api"].url + "/healthz", timeout=10)
    for job in ("llm-api", "model-worker"):
        assert prom.wait_for(f'up{{job="{job}"}} == 1'), prom.targets()
    ready = prom.wait_for('model_worker_model_state{job="model-worker", model="omni", state="ready"} == 1')
    assert len(ready) == 1
    assert prom.wait_for('model_worker_http_requests_total{job="model-worker", route="/omni/chat", status="200"}')
    assert prom.wait_for('llm_api_http_requests_total{job="llm-api", route="/healthz"}')
    assert prom.wait_for('llm_api_time_to_first_token_seconds_count{job="llm-api", model="omni"}')
    # A histogram quantile over the scraped buckets works (the dashboard's latency panels are such queries).
    assert prom.wait_for('histogram_quantile(0.5, sum by (le) '
                         '(llm_api_http_request_duration_seconds_bucket{job="llm-api", route="/ask-llm"}))')


def test_every_dashboard_query_runs_on_the_real_prometheus(stack):
    from tests.stack.test_monitoring import dashboard_queries

    prom = stack["prometheus"]
    prom.wait_for('llm_api_http_requests_total{job="llm-api"}')
    for expr in dashboard_queries():  # each one answered with `success` (query() checks); rates may be empty yet
        prom.query(expr.replace("$__rate_interval", "1m"))
    assert prom.query('max by (model, state) (model_worker_model_state) == 1')  # the state panel shows something
