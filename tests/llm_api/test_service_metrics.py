"""/metrics on the real llm-api under gunicorn with 2 gevent workers: the counts of both workers add up in every
scrape (prometheus_client's multiprocess mode in PROMETHEUS_MULTIPROC_DIR, wiped at start), the streams gauge
follows open streams and forgets killed workers, answers and upstream failures are counted, and the metrics port
serves /metrics without the API key while the API port keeps it behind the key."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.doubles.stack import llm_api_service
from tests.llm_api.conftest import API_KEY, LOG_DIR
from tests.support.linux_procs import child_pids
from tests.support.procs import Service, free_port, wait_http
from tests.support.prometheus import sample

AUTH = {"Authorization": f"Bearer {API_KEY}"}
DEFAULT_MODEL = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"
STALE = "counter_999999.db"


@dataclass
class Metered:
    api: Service
    metrics_url: str  # the METRICS_PORT listener
    multiproc_dir: Path

    def scrape(self) -> str:
        response = requests.get(self.metrics_url + "/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return response.text

    def pids_with_files(self) -> set[int]:
        return {int(path.stem.rsplit("_", 1)[1]) for path in self.multiproc_dir.glob("counter_*.db")}


@pytest.fixture(scope="module")
def metered(tmp_path_factory, double_server, closed_url):
    root = tmp_path_factory.mktemp("metrics-service")
    multiproc = root / "prometheus-multiproc"
    multiproc.mkdir()
    (multiproc / STALE).write_bytes(b"left by an earlier run")  # wiped at start, or every scrape would fail
    metrics_port = free_port()
    env = {"API_KEY": API_KEY, "METRICS_PORT": str(metrics_port), "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
           "WEB_CONCURRENCY": "2"}
    with llm_api_service(double_server.url, closed_url, root / "llm-api.sqlite3", env=env, log_dir=LOG_DIR) as api:
        yield Metered(api, f"http://127.0.0.1:{metrics_port}", multiproc)


def healthz_count(text: str) -> float:
    return sample(text, "llm_api_http_requests_total", route="/healthz", method="GET", status="200") or 0.0


def test_the_multiprocess_directory_is_wiped_at_start(metered):
    assert not (metered.multiproc_dir / STALE).exists()
    assert metered.scrape()


def test_every_scrape_adds_up_both_workers(metered):
    before = healthz_count(metered.scrape())
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):  # until both workers have answered some (each request on its own connection)
            statuses = list(pool.map(lambda _: requests.get(metered.api.url + "/healthz", timeout=10).status_code,
                                     range(24)))
            assert statuses == [200] * 24
            sent += 24
            if len(metered.pids_with_files() & set(child_pids(metered.api.process.pid))) >= 2:
                break
    assert len(metered.pids_with_files()) >= 2, "one gunicorn worker answered every request"
    counts = {healthz_count(metered.scrape()) for _ in range(8)}  # scrapes land on either worker
    assert counts == {before + sent}


def test_metrics_auth_on_each_port(metered):
    api = metered.api.url
    assert requests.get(api + "/metrics", timeout=10).status_code == 401
    assert requests.get(api + "/metrics", headers={"Host": f"127.0.0.1:{metered.metrics_url.rsplit(':', 1)[1]}"},
                        timeout=10).status_code == 401
    keyed = requests.get(api + "/metrics", headers=AUTH, timeout=10)
    assert keyed.status_code == 200 and keyed.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert requests.get(metered.metrics_url + "/metrics", timeout=10).status_code == 200
    refused = requests.get(metered.metrics_url + "/sessions", headers=AUTH, timeout=10)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"


def test_streams_open_and_answer_timings(metered, ollama):
    ollama.set(token_delay_s=0.3, load_delay_s=0.3)  # a first load: the first token comes after 0.3 s
    with requests.post(metered.api.url + "/ask-llm", json={"prompt": "one two three four", "stream": True},
                       headers=AUTH, stream=True, timeout=60) as response:
        lines = response.iter_lines()
        assert b'"type":"start"' in next(lines)
        assert sample(metered.scrape(), "llm_api_streams_open", route="/ask-llm") == 1
        rest = list(lines)
    assert b'"type":"done"' in rest[-1]
    deadline = time.monotonic() + 10
    while sample(text := metered.scrape(), "llm_api_streams_open", route="/ask-llm") != 0:
        assert time.monotonic() < deadline, "the stream was never counted closed"
        time.sleep(0.1)
    assert sample(text, "llm_api_http_requests_total", route="/ask-llm", method="POST", status="200") >= 1
    assert sample(text, "llm_api_time_to_first_token_seconds_count", model=DEFAULT_MODEL) >= 1
    assert sample(text, "llm_api_time_to_first_token_seconds_sum", model=DEFAULT_MODEL) >= 0.3
    assert sample(text, "llm_api_tokens_per_second_count", model=DEFAULT_MODEL) >= 1
    assert sample(text, "llm_api_tokens_total", model=DEFAULT_MODEL, kind="completion") >= 4
    assert sample(text, "llm_api_chat_answers_total", model=DEFAULT_MODEL) >= 1


def test_upstream_failures_by_kind(metered, ollama):
    before = sample(metered.scrape(), "llm_api_upstream_errors_total", upstream="ollama", kind="backend_error") or 0
    ollama.set(fail_status=500)
    response = requests.post(metered.api.url + "/ask-llm", json={"prompt": "hi"}, headers=AUTH, timeout=30)
    assert response.status_code == 502
    after = sample(metered.scrape(), "llm_api_upstream_errors_total", upstream="ollama", kind="backend_error")
    assert after == before + 1


def test_killed_workers_leave_their_counts_but_not_their_open_streams(metered, ollama):
    """Last in this module: it kills both workers. gunicorn starts new ones; child_exit drops the dead ones' live
    gauges (the stream they held is no longer open), their counters stay in the total."""
    ollama.set(token_delay_s=1.0)
    before = healthz_count(metered.scrape())
    response = requests.post(metered.api.url + "/ask-llm", json={"prompt": " ".join(["word"] * 50), "stream": True},
                             headers=AUTH, stream=True, timeout=60)
    try:
        assert b'"type":"start"' in next(response.iter_lines())
        assert sample(metered.scrape(), "llm_api_streams_open", route="/ask-llm") == 1
        old = child_pids(metered.api.process.pid)
        assert len(old) == 2
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(set(child_pids(metered.api.process.pid)) - set(old)) < 2:
            assert time.monotonic() < deadline, "gunicorn did not replace its killed workers"
            time.sleep(0.1)
        wait_http(metered.metrics_url + "/metrics", 30)
    finally:
        response.close()
    text = metered.scrape()
    assert sample(text, "llm_api_streams_open", route="/ask-llm") in (None, 0)
    assert before >= 1 and healthz_count(text) == before  # the dead workers' counts are still in the total
