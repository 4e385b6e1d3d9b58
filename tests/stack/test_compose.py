"""compose.yaml and its override files, validated and resolved by the real Compose binary."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.stack.compose_cli import compose_config, resolved
from tests.support.procs import REPO_ROOT

BASE = "compose.yaml"
CPU = "compose.cpu.yaml"
DEBUG_PORTS = "compose.debug-ports.yaml"
LONG_RUNNING = ("ollama", "model-worker", "llm-api", "web")
GPU_SERVICES = ("ollama", "model-worker")


@pytest.fixture(scope="module")
def base() -> dict:
    return resolved(BASE)


@pytest.fixture(scope="module")
def cpu() -> dict:
    return resolved(BASE, CPU)


@pytest.mark.parametrize("files", [(BASE,), (BASE, CPU), (BASE, DEBUG_PORTS), (BASE, CPU, DEBUG_PORTS)])
def test_compose_files_validate(files):
    result = compose_config(*files, check=False)
    assert result.returncode == 0, result.stderr


def test_validator_rejects_a_broken_file(tmp_path):
    """The binary really validates: an undefined volume and a bad depends_on condition fail."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        "services:\n  a:\n    image: busybox\n    volumes: [missing-volume:/x]\n"
        "    depends_on:\n      b: {condition: service_sleepy}\n  b:\n    image: busybox\n"
    )
    result = compose_config(str(broken), cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "missing-volume" in result.stderr or "condition" in result.stderr


def test_services_and_build_contexts(base):
    assert set(base["services"]) == {"ollama", "ollama-init", "model-worker", "llm-api", "web"}
    assert base["services"]["ollama"]["image"].startswith("ollama/ollama:")
    assert base["services"]["ollama-init"]["image"] == base["services"]["ollama"]["image"]
    for name in ("model-worker", "llm-api", "web"):
        context = Path(base["services"][name]["build"]["context"])
        assert context == REPO_ROOT / name
        assert (context / "Dockerfile").is_file(), f"{name} has no Dockerfile"


def test_named_volumes_and_mount_points(base):
    assert set(base["volumes"]) == {"ollama-data", "hf-cache", "app-data"}

    def mounts(service: str) -> dict[str, str]:
        return {v["source"]: v["target"] for v in base["services"][service].get("volumes", [])
                if v["type"] == "volume"}

    assert mounts("ollama") == {"ollama-data": "/root/.ollama"}
    assert mounts("llm-api") == {"app-data": "/data"}
    worker_env = base["services"]["model-worker"]["environment"]
    assert mounts("model-worker") == {"hf-cache": worker_env["HF_HOME"]}
    assert base["services"]["llm-api"]["environment"]["DATABASE_PATH"].startswith("/data/")


def test_init_pulls_through_the_ollama_service_once(base):
    init = base["services"]["ollama-init"]
    assert init["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert init["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    assert init["environment"]["OLLAMA_PULL_MODELS"] == "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"
    assert init["restart"] == "no"
    script = next(v for v in init["volumes"] if v["type"] == "bind")
    assert Path(script["source"]) == REPO_ROOT / "ollama" / "pull-models.sh"
    assert script["read_only"] is True


@pytest.mark.parametrize("service", GPU_SERVICES)
def test_gpu_reservations_and_cpu_override(base, cpu, service):
    devices = base["services"][service]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert not (cpu["services"][service].get("deploy") or {}).get("resources")


def test_cpu_override_runs_the_worker_on_cpu(cpu):
    env = cpu["services"]["model-worker"]["environment"]
    assert env["DEVICE"] == "cpu"
    assert env["USE_4BIT"] == "false"


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_healthchecks_and_restart_policies(base, service):
    spec = base["services"][service]
    assert spec["restart"] == "unless-stopped"
    test = spec["healthcheck"]["test"]
    assert test[0] == "CMD"
    # Only tools that are inside each image: the ollama CLI, python in the Python images, node in the web image.
    expected_tool = {"ollama": "ollama", "model-worker": "python", "llm-api": "python", "web": "node"}[service]
    assert test[1] == expected_tool


def test_dependencies_wait_for_readiness(base):
    llm_api = base["services"]["llm-api"]["depends_on"]
    assert llm_api["ollama"]["condition"] == "service_healthy"
    assert llm_api["model-worker"]["required"] is False
    assert base["services"]["web"]["depends_on"]["llm-api"]["condition"] == "service_healthy"


def test_ports_published_on_loopback_by_default(base):
    published = {
        name: spec.get("ports", []) for name, spec in base["services"].items() if spec.get("ports")
    }
    assert set(published) == {"llm-api", "web"}
    assert [(p["host_ip"], p["published"], p["target"]) for p in published["llm-api"]] == [
        ("127.0.0.1", "8080", 8080)
    ]
    assert [(p["host_ip"], p["published"], p["target"]) for p in published["web"]] == [
        ("127.0.0.1", "3000", 3000)
    ]


def test_ports_are_overridable_by_variables():
    model = resolved(BASE, DEBUG_PORTS, env={"BIND_ADDRESS": "0.0.0.0", "LLM_API_PORT": "18080",
                                              "WEB_PORT": "13000", "OLLAMA_PORT": "21434"})
    ports = {n: s["ports"][0] for n, s in model["services"].items() if s.get("ports")}
    assert ports["llm-api"]["host_ip"] == "0.0.0.0" and ports["llm-api"]["published"] == "18080"
    assert ports["web"]["published"] == "13000"
    assert ports["ollama"]["published"] == "21434" and ports["ollama"]["host_ip"] == "0.0.0.0"
    assert ports["model-worker"]["published"] == "8000"


def test_networks_keep_the_web_off_the_model_tier(base):
    nets = {name: set(spec["networks"]) for name, spec in base["services"].items()}
    assert nets["web"] == {"frontnet"}
    assert nets["llm-api"] == {"frontnet", "backnet"}
    assert nets["ollama"] == nets["model-worker"] == {"backnet"}


def test_service_urls_match_the_contract(base):
    api_env = base["services"]["llm-api"]["environment"]
    assert api_env["OLLAMA_URL"] == "http://ollama:11434"
    assert api_env["WORKER_URL"] == "http://model-worker:8000"
    assert base["services"]["web"]["environment"]["LLM_API_URL"] == "http://llm-api:8080"


def _variables_in(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)", text))


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_every_compose_variable_is_documented_in_env_example():
    used = set()
    for name in (BASE, CPU, DEBUG_PORTS):
        used |= _variables_in((REPO_ROOT / name).read_text())
    documented = set(_env_example())
    assert used - documented == set(), "add these to .env.example"
    assert documented - used == set(), "these .env.example entries are used by no compose file"


def test_env_example_defaults_equal_compose_defaults(tmp_path):
    """Copying .env.example to .env must not change anything: its values are the compose defaults."""
    shutil.copy(REPO_ROOT / ".env.example", tmp_path / ".env")
    for name in (BASE, CPU, DEBUG_PORTS):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    with_env = compose_config(BASE, DEBUG_PORTS, cwd=tmp_path).stdout
    without = compose_config(BASE, DEBUG_PORTS, cwd=REPO_ROOT).stdout
    assert with_env.replace(str(tmp_path), "<root>") == without.replace(str(REPO_ROOT), "<root>")


def test_llm_api_reads_backend_keys_from_an_optional_backends_env(tmp_path):
    """OPENAI_BACKEND_<NAME>_* names depend on OPENAI_BACKENDS, so they come from ./backends.env when it exists."""
    shutil.copy(REPO_ROOT / BASE, tmp_path / BASE)
    without = resolved_in(tmp_path)["services"]["llm-api"]["environment"]
    assert without["OPENAI_BACKENDS"] == "" and not any(k.startswith("OPENAI_BACKEND_") for k in without)
    (tmp_path / "backends.env").write_text("OPENAI_BACKEND_GEMINI_API_KEY=k-123\nOPENAI_BACKEND_GEMINI_MODELS=m\n")
    env = resolved_in(tmp_path, OPENAI_BACKENDS="gemini=https://example.test/v1")["services"]["llm-api"]["environment"]
    assert env["OPENAI_BACKENDS"] == "gemini=https://example.test/v1"
    assert env["OPENAI_BACKEND_GEMINI_API_KEY"] == "k-123" and env["OPENAI_BACKEND_GEMINI_MODELS"] == "m"


def resolved_in(folder: Path, **env: str) -> dict:
    return json.loads(compose_config(str(folder / BASE), cwd=folder, env=env).stdout)


# --- profile `monitoring`: Prometheus and Grafana beside the stack -------------------------------------------
MONITORING = {"COMPOSE_PROFILES": "monitoring"}


@pytest.fixture(scope="module")
def monitoring() -> dict:
    return resolved(BASE, env=MONITORING)


@pytest.mark.parametrize("files", [(BASE,), (BASE, CPU), (BASE, DEBUG_PORTS)])
def test_monitoring_profile_validates(files):
    result = compose_config(*files, env=MONITORING, check=False)
    assert result.returncode == 0, result.stderr


def test_monitoring_services_only_with_their_profile(base, monitoring):
    assert not {"prometheus", "grafana"} & set(base["services"])
    assert {"prometheus", "grafana"} <= set(monitoring["services"])
    for name in ("prometheus", "grafana"):
        assert monitoring["services"][name]["profiles"] == ["monitoring"]
        assert monitoring["services"][name]["restart"] == "unless-stopped"
    assert {"prometheus-data", "grafana-data"} <= set(monitoring["volumes"])


def test_monitoring_images_are_official_and_pinned(monitoring):
    images = {name: monitoring["services"][name]["image"] for name in ("prometheus", "grafana")}
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", images["prometheus"]), images
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", images["grafana"]), images


def test_monitoring_ports_stay_on_loopback_whatever_bind_address_says():
    model = resolved(BASE, env={**MONITORING, "BIND_ADDRESS": "0.0.0.0"})
    ports = {name: [(p["host_ip"], p["published"], p["target"]) for p in model["services"][name]["ports"]]
             for name in ("prometheus", "grafana")}
    assert ports == {"prometheus": [("127.0.0.1", "9090", 9090)], "grafana": [("127.0.0.1", "3001", 3000)]}
    assert model["services"]["llm-api"]["ports"][0]["host_ip"] == "0.0.0.0"  # the API follows BIND_ADDRESS


def test_prometheus_reaches_the_services_and_grafana_only_prometheus(monitoring):
    nets = {name: set(spec["networks"]) for name, spec in monitoring["services"].items()}
    assert nets["prometheus"] == {"backnet", "monitornet"}
    assert nets["grafana"] == {"monitornet"}
    assert nets["web"] == {"frontnet"}  # unchanged: the web app still cannot reach the model tier
    assert monitoring["services"]["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_llm_api_metrics_port_is_exposed_never_published(monitoring):
    api = monitoring["services"]["llm-api"]
    port = api["environment"]["METRICS_PORT"]
    assert port in api["expose"]
    assert all(str(p["target"]) != port for p in api["ports"])


def test_monitoring_mounts_the_repositorys_files_read_only(monitoring):
    mounts = {(name, Path(v["source"]).relative_to(REPO_ROOT).as_posix(), v["target"], v.get("read_only", False))
              for name in ("prometheus", "grafana") for v in monitoring["services"][name]["volumes"]
              if v["type"] == "bind"}
    assert mounts == {
        ("prometheus", "monitoring/prometheus.yml", "/etc/prometheus/prometheus.yml", True),
        ("grafana", "monitoring/grafana/provisioning", "/etc/grafana/provisioning", True),
        ("grafana", "monitoring/grafana/dashboards", "/etc/grafana/dashboards", True),
    }
    for _name, source, _target, _ro in mounts:
        assert (REPO_ROOT / source).exists(), source
    command = monitoring["services"]["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert "--storage.tsdb.path=/prometheus" in command


def test_llm_api_history_is_sqlite_unless_database_url_is_set(tmp_path):
    """SQLite in app-data by default; a DATABASE_URL (and pool size) from .env or the shell passes through."""
    shutil.copy(REPO_ROOT / BASE, tmp_path / BASE)
    default = resolved_in(tmp_path)["services"]["llm-api"]["environment"]
    assert default["DATABASE_URL"] == "" and default["DATABASE_PATH"] == "/data/llm-api.sqlite3"
    url = "postgresql://llm:secret@db.example:5432/llm"
    env = resolved_in(tmp_path, DATABASE_URL=url, DATABASE_POOL_SIZE="4")["services"]["llm-api"]["environment"]
    assert env["DATABASE_URL"] == url and env["DATABASE_POOL_SIZE"] == "4"


REALTIME = {"COMPOSE_PROFILES": "realtime"}


@pytest.fixture(scope="module")
def realtime() -> dict:
    return resolved(BASE, env=REALTIME)


@pytest.mark.parametrize("files", [(BASE,), (BASE, CPU), (BASE, DEBUG_PORTS)])
def test_realtime_profile_validates(files):
    result = compose_config(*files, env=REALTIME, check=False)
    assert result.returncode == 0, result.stderr


def test_realtime_runs_only_with_its_profile_on_its_own_gpu(base, realtime):
    assert "realtime" not in base["services"]
    spec = realtime["services"]["realtime"]
    assert spec["profiles"] == ["realtime"] and spec["restart"] == "unless-stopped"
    assert Path(spec["build"]["context"]) == REPO_ROOT / "realtime"
    devices = spec["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "capabilities": ["gpu"], "device_ids": ["0"]}]
    other = resolved(BASE, env={**REALTIME, "REALTIME_GPU_ID": "1"})
    assert other["services"]["realtime"]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["1"]
    assert spec["environment"]["MOSHI_REPO"] == "nu-dialogue/j-moshi-ext" and spec["environment"]["DEVICE"] == "cuda"


def test_realtime_is_reached_through_the_llm_api_only(realtime):
    spec = realtime["services"]["realtime"]
    assert "ports" not in spec and set(spec["networks"]) == {"backnet"}
    assert spec["environment"]["PORT"] == "8998"
    assert realtime["services"]["llm-api"]["environment"]["REALTIME_URL"] == "http://realtime:8998"
    mounts = {(v["source"], v["target"]) for v in spec["volumes"]}
    assert mounts == {("hf-cache", "/cache/huggingface")}  # the weights download once, into the shared cache


def test_cpu_override_runs_realtime_on_the_cpu():
    spec = resolved(BASE, CPU, env=REALTIME)["services"]["realtime"]
    assert "deploy" not in spec or not spec["deploy"].get("resources")
    assert spec["environment"]["DEVICE"] == "cpu"
