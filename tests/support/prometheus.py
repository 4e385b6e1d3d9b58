"""Prometheus for the tests: reading a `/metrics` exposition, and a REAL Prometheus server (Debian's `prometheus`
package) that scrapes running services, queried through its HTTP API.

    with prometheus_server({"llm-api": ["127.0.0.1:8081"]}, tmp_path) as prom:
        prom.wait_for('llm_api_http_requests_total{job="llm-api"}')   # the query's result vector, once non-empty
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.procs import Service, free_port, run_service

INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus text exposition: (name, labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels}` (exactly those labels), or None when there is none."""
    return samples(text).get((name, frozenset(labels.items())))


def binary(name: str) -> str:
    """The path of a Prometheus tool; fails (never skips) when it is missing, saying how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is missing: install it with `{INSTALL_HINT}` (.ci/run does so as root)")
    return path


@dataclass
class Prometheus:
    service: Service
    url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = requests.get(self.url + "/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, promql: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The query's result once it is non-empty (Prometheus has scraped what it needs)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(promql)
            if result or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert result, f"Prometheus returned nothing for {promql} within {timeout_s} s\n{self.service.log()[-3000:]}"
        return result

    def targets(self) -> list[dict[str, Any]]:
        return requests.get(self.url + "/api/v1/targets", timeout=10).json()["data"]["activeTargets"]


def scrape_config(jobs: Mapping[str, Sequence[str]], interval_s: float) -> dict[str, Any]:
    period = f"{interval_s:g}s"
    return {"global": {"scrape_interval": period, "scrape_timeout": period, "evaluation_interval": period},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}
                               for job, targets in jobs.items()]}


@contextlib.contextmanager
def prometheus_server(jobs: Mapping[str, Sequence[str]], root: Path, interval_s: float = 1.0,
                      log_dir: Path | None = None) -> Iterator[Prometheus]:
    """A real Prometheus on a free loopback port scraping `jobs` (job name -> host:port targets) every
    `interval_s`, with its storage under `root`; stopped on exit."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "prometheus.yml"
    config.write_text(json.dumps(scrape_config(jobs, interval_s), indent=2))  # JSON is YAML
    port = free_port()
    argv = [binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    log_path = (log_dir or root) / f"prometheus-{port}.log"
    with run_service(argv, cwd=root, port=port, log_path=log_path, health_path="/-/ready") as service:
        yield Prometheus(service=service, url=service.url)
