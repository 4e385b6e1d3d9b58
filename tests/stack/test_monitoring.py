"""monitoring/: the Prometheus scrape config (checked by promtool), and Grafana's provisioned datasource and
dashboard: every query is valid PromQL (promtool) and names only metrics the services really export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from llm_api.metrics import Metrics as ApiMetrics
from model_worker.metrics import Metrics as WorkerMetrics
from model_worker.slot import ModelSlot
from tests.stack.compose_cli import resolved
from tests.support.procs import REPO_ROOT

MONITORING = REPO_ROOT / "monitoring"
PROMETHEUS_YML = MONITORING / "prometheus.yml"
GRAFANA = MONITORING / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "local-ai-stack.json"
METRIC_NAME = re.compile(r"\b((?:llm_api|model_worker)_[a-z0-9_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool is missing (Debian package `prometheus`)")


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


class CudaStandIn:
    """A GPU for the worker's collector, so its GPU families are listed too."""

    def is_available(self):
        return True

    def is_initialized(self):
        return True

    def device_count(self):
        return 1

    def memory_reserved(self, _index):
        return 1

    def mem_get_info(self, _index):
        return 1, 2


def exported_names() -> set[str]:
    """Every sample name the two services' metrics modules can export (histograms with their suffixes)."""
    slot = ModelSlot("omni", "omni", lambda: None)
    names: set[str] = set()
    for registry in (ApiMetrics().registry, WorkerMetrics(lambda: {"omni": slot}, gpu=CudaStandIn()).registry):
        for family in registry.collect():
            names.add(family.name)
            suffixes = HISTOGRAM_SUFFIXES if family.type == "histogram" else ("_total",) if family.type == "counter" \
                else ("",)
            names.update(family.name + suffix for suffix in suffixes)
    return names


@needs_promtool
def test_promtool_accepts_the_scrape_config():
    result = subprocess.run(["promtool", "check", "config", str(PROMETHEUS_YML)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_targets_are_the_services_metrics_ports():
    compose = resolved("compose.yaml", env={"COMPOSE_PROFILES": "monitoring"})["services"]
    jobs = {job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
            for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]}
    assert jobs["llm-api"] == [f"llm-api:{compose['llm-api']['environment']['METRICS_PORT']}"]
    assert jobs["model-worker"] == [f"model-worker:{compose['model-worker']['environment']['PORT']}"]
    realtime = resolved("compose.yaml", env={"COMPOSE_PROFILES": "realtime"})["services"]["realtime"]
    assert jobs["realtime"] == [f"realtime:{realtime['environment']['PORT']}"]
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in load_yaml(PROMETHEUS_YML)["scrape_configs"])


def test_grafana_datasource_and_dashboard_provider_fit_together():
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert [(d["type"], d["uid"], d["url"]) for d in datasources] == [("prometheus", "prometheus",
                                                                       "http://prometheus:9090")]
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "local-ai-stack.yml")["providers"]
    compose = resolved("compose.yaml", env={"COMPOSE_PROFILES": "monitoring"})["services"]["grafana"]
    dashboards_mount = next(v["target"] for v in compose["volumes"] if v["source"].endswith("grafana/dashboards"))
    assert [p["options"]["path"] for p in providers] == [dashboards_mount]
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "local-ai-stack"
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]}
    assert uids == {"prometheus"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_shows_what_the_issue_asks_for():
    names = {match for expr in dashboard_queries() for match in METRIC_NAME.findall(expr)}
    for wanted in ("llm_api_http_requests_total", "llm_api_http_request_duration_seconds_bucket",
                   "llm_api_time_to_first_token_seconds_bucket", "llm_api_tokens_per_second_bucket",
                   "llm_api_upstream_errors_total", "llm_api_streams_open", "model_worker_queue_depth",
                   "model_worker_model_state", "model_worker_gpu_memory_used_bytes",
                   "model_worker_gpu_memory_free_bytes"):
        assert wanted in names, wanted


def test_dashboard_queries_name_only_exported_metrics():
    exported = exported_names()
    unknown = {match for expr in dashboard_queries() for match in METRIC_NAME.findall(expr)} - exported
    assert unknown == set()


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path):
    """promtool parses each query as a recording rule (Grafana's $__rate_interval given a value)."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(dashboard_queries())]}]}
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
