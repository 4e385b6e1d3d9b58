"""The Helm chart (deploy/helm/local-ai-stack), rendered by Helm's engine and validated offline for every value set.

No cluster and no helm binary: helm-python-sdk binds Helm's Go SDK (its wheel carries libhelm_c), and
kubernetes-validate holds the Kubernetes OpenAPI schemas. Every object of every documented value set is validated in
strict mode against the chart's oldest supported Kubernetes and the newest schema shipped; then the tests check what
the rendering must say: GPUs, probes, security contexts, pinned images, volumes, secrets, and NetworkPolicies that
allow exactly compose's frontnet/backnet traffic.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    KUBE_VERSIONS,
    NAMESPACE,
    Cluster,
    Pod,
    by_kind,
    containers,
    crd_documents,
    env,
    env_values,
    load_values,
    main_container,
    named,
    notes,
    pod_spec,
    render,
    validate,
    value_sets,
    values_schema,
    walk,
    workloads,
)
from tests.support.procs import REPO_ROOT

VALUE_SETS = value_sets()
SET_NAMES = sorted(VALUE_SETS)
STACK = ("web", "llm-api", "ollama", "model-worker", "postgresql", "ollama-pull")
GPU = "nvidia.com/gpu"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(load_values(path)) for name, path in VALUE_SETS.items()}


@pytest.fixture(scope="module")
def default(rendered) -> list[dict[str, Any]]:
    return rendered["default"]


def test_the_documented_value_sets_are_all_tested():
    """The issue's sets (default, external database, no GPU, ingress, monitoring) and the walkthroughs' files."""
    assert {"default", "gke-autopilot", "k3s", "external-database", "no-gpu", "ingress", "monitoring"} <= set(
        VALUE_SETS)
    readme = (CHART / "README.md").read_text()
    for path in filter(None, VALUE_SETS.values()):
        assert str(path.relative_to(CHART)) in readme, f"{path.name} is not described in the chart's README"


def test_helm_sdk_is_the_real_engine():
    """Helm's Go SDK through its C ABI: the same template engine and lint as the helm CLI."""
    assert helm.helm_sdk_version().startswith("v4.")
    assert helm.library_path.name.startswith("libhelm_c")


@pytest.mark.parametrize("name", SET_NAMES)
def test_helm_lint_is_clean(name):
    report = helm.lint(CHART, load_values(VALUE_SETS[name]), strict=True, namespace=NAMESPACE,
                       kube_version=f"v{KUBE_VERSIONS[-1]}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", SET_NAMES)
def test_every_object_validates_against_the_kubernetes_schema(rendered, name, kube_version):
    objects = rendered[name]
    assert len(objects) >= 20
    for obj in objects:
        try:
            validate(obj, kube_version)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']} is invalid for {kube_version}: "
                        f"{path}: {exc.message}")


def test_the_validators_reject_what_kubernetes_rejects(default):
    """Strict validation is real: an unknown field, a wrong type and a bad ServiceMonitor all fail."""
    deployment = named(default, "Deployment", "ai-local-ai-stack-llm-api")
    typo = yaml.safe_load(yaml.safe_dump(deployment))
    main_container(typo)["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(typo, KUBE_VERSIONS[-1])
    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong_type, KUBE_VERSIONS[-1])
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
               "spec": {"selector": {}, "endpoints": [{"port": "metrics", "intervall": "30s"}]}}
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor, KUBE_VERSIONS[-1])
    for crd in crd_documents():  # the vendored CRD is itself a valid object
        validate(crd, KUBE_VERSIONS[-1])


def test_the_packaged_chart_renders_the_same(tmp_path, default):
    """`helm package` keeps every file the templates read (files/pull-models.sh): the archive renders the same."""
    archive = helm.package(CHART, destination=tmp_path)
    with helm.Chart.load_archive(open(archive, "rb").read()) as chart:
        assert chart.version == chart.metadata["version"] == "0.1.0"
        from_archive = render({}, chart)
    assert [(o["kind"], o["metadata"]["name"]) for o in from_archive] == [
        (o["kind"], o["metadata"]["name"]) for o in default]


# --- what the rendering must contain -----------------------------------------------------------------------------


def test_default_rendering_has_every_part(default):
    kinds = {(o["kind"], o["metadata"]["labels"]["app.kubernetes.io/component"]) for o in default}
    assert {("StatefulSet", "ollama"), ("Job", "ollama-pull"), ("Deployment", "model-worker"),
            ("Deployment", "llm-api"), ("Deployment", "web"), ("StatefulSet", "postgresql"),
            ("PersistentVolumeClaim", "model-worker"), ("PodDisruptionBudget", "llm-api"),
            ("PodDisruptionBudget", "web")} <= kinds
    assert {c for k, c in kinds if k == "Service"} == {"ollama", "model-worker", "llm-api", "web", "postgresql"}
    assert {c for k, c in kinds if k == "NetworkPolicy"} == set(STACK)
    assert not by_kind(default, "Ingress") and not by_kind(default, "ServiceMonitor")
    assert named(default, "Deployment", "ai-local-ai-stack-llm-api")["spec"]["replicas"] == 2


@pytest.mark.parametrize("name", SET_NAMES)
def test_images_are_pinned(rendered, name):
    for workload in workloads(rendered[name]).values():
        for container in containers(workload):
            image = container["image"]
            reference = image.split("@")[0]
            tag = reference.rsplit(":", 1)[1] if ":" in reference.rsplit("/", 1)[-1] else ""
            assert tag and tag != "latest", f"{name}: {image} is not pinned to a version"
            assert re.fullmatch(r"v?\d+(\.\d+)*(-[\w.]+)?", tag), f"{name}: {image} has no version tag"


def test_images_match_compose_and_the_dockerfiles(default):
    """Ollama is compose's pinned image; the stack's own images are the chart's appVersion of compose's builds."""
    compose = (REPO_ROOT / "compose.yaml").read_text()
    ollama_image = re.search(r"\$\{OLLAMA_IMAGE:-([^}]+)\}", compose).group(1)
    found = workloads(default)
    assert main_container(found["ollama"])["image"] == f"docker.io/{ollama_image}"
    assert main_container(found["ollama-pull"])["image"] == f"docker.io/{ollama_image}"
    for part in ("llm-api", "model-worker", "web"):
        assert main_container(found[part])["image"] == f"local-ai-stack-{part}:0.1.0"
    assert main_container(found["postgresql"])["image"].startswith("docker.io/postgres:")


def test_a_latest_or_missing_tag_fails_the_render():
    with pytest.raises(helm.HelmError, match="/web/image/tag"):  # the values schema
        render({"web": {"image": {"tag": "latest"}}})
    with pytest.raises(helm.HelmError, match="pin a version tag"):  # the template: no appVersion for Ollama
        render({"ollama": {"image": {"tag": ""}}})


def test_registry_and_digest(rendered):
    found = workloads(rendered["locked-down"])
    assert main_container(found["llm-api"])["image"] == "registry.example.internal/ai/local-ai-stack-llm-api:0.1.0"
    assert main_container(found["model-worker"])["image"] == (
        "registry.example.internal/ai/local-ai-stack-model-worker:0.1.0@sha256:" + "1" * 64)
    assert main_container(found["ollama"])["image"].startswith("registry.example.internal/mirror/ollama/ollama:")
    for workload in found.values():
        assert pod_spec(workload)["imagePullSecrets"] == [{"name": "registry-credentials"}]


def _gpus(container: dict[str, Any]) -> int:
    return int(container.get("resources", {}).get("limits", {}).get(GPU, 0))


@pytest.mark.parametrize("name", SET_NAMES)
def test_gpu_limits_only_on_ollama_the_worker_and_realtime(rendered, name):
    values = load_values(VALUE_SETS[name])
    gpu_on = values.get("gpu", {}).get("enabled", True)
    for part, workload in workloads(rendered[name]).items():
        spec = pod_spec(workload)
        wants_gpu = gpu_on and part in ("ollama", "model-worker", "realtime")
        assert [_gpus(c) for c in containers(workload)] == [1 if wants_gpu else 0] * len(containers(workload)), part
        tolerations = [t.get("key") for t in spec.get("tolerations", [])]
        if not wants_gpu:
            assert GPU not in tolerations and "runtimeClassName" not in spec, part
            assert not any(k.startswith("cloud.google.com/gke-accelerator") for k in spec.get("nodeSelector", {}))
        if part == "model-worker":
            expected_device = env_values(main_container(workload))["DEVICE"]
            assert expected_device == ("auto" if wants_gpu else "cpu")


def test_gpu_scheduling_per_platform(rendered):
    default = workloads(rendered["default"])
    for part in ("ollama", "model-worker"):
        assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod_spec(default[part])["tolerations"]
        gke = pod_spec(workloads(rendered["gke-autopilot"])[part])
        assert gke["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
        assert "tolerations" not in gke  # Autopilot adds its own
        assert pod_spec(workloads(rendered["k3s"])[part])["runtimeClassName"] == "nvidia"
    # Time-sliced single GPU on k3s: the worker leaves room for Ollama; on its own GPU it needs none.
    assert env_values(main_container(workloads(rendered["k3s"])["model-worker"]))["GPU_RESERVE_GIB"] == "4"
    assert env_values(main_container(default["model-worker"]))["GPU_RESERVE_GIB"] == "0"


def _probe_budget_s(probe: dict[str, Any]) -> int:
    return probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


def _http_probe(container: dict[str, Any], kind: str) -> tuple[str, int]:
    probe = container[kind]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    return probe["path"], ports.get(probe["port"], probe["port"])


@pytest.mark.parametrize("name", SET_NAMES)
def test_probes_on_the_right_paths_and_ports(rendered, name):
    found = workloads(rendered[name])
    expected = {
        "llm-api": (8080, "/healthz", "/healthz", "/readyz"),
        "model-worker": (8000, "/healthz", "/healthz", "/readyz"),
        "ollama": (11434, "/api/version", "/api/version", "/api/version"),
        "web": (3000, "/api/health", "/api/health", "/api/health"),
        "realtime": (8998, "/healthz", "/healthz", "/readyz"),
    }
    for part, (port, startup, liveness, readiness) in expected.items():
        if part not in found:  # realtime: only where enabled
            continue
        container = main_container(found[part])
        assert _http_probe(container, "startupProbe") == (startup, port), part
        assert _http_probe(container, "livenessProbe") == (liveness, port), part
        assert _http_probe(container, "readinessProbe") == (readiness, port), part
    # Start-up budgets: model loads and first downloads take minutes; the worker gets half an hour.
    assert _probe_budget_s(main_container(found["model-worker"])["startupProbe"]) >= 1800
    assert _probe_budget_s(main_container(found["ollama"])["startupProbe"]) >= 600
    assert _probe_budget_s(main_container(found["llm-api"])["startupProbe"]) >= 120
    if "postgresql" in found:
        probe = main_container(found["postgresql"])["readinessProbe"]["exec"]["command"]
        assert "pg_isready" in probe[-1]


def _dockerfile_user(service: str) -> int:
    user = re.findall(r"^USER\s+(\S+)", (REPO_ROOT / service / "Dockerfile").read_text(), re.M)[-1]
    return int(user.split(":")[0])


@pytest.mark.parametrize("name", SET_NAMES)
def test_pods_are_non_root_and_restricted(rendered, name):
    """Every pod meets the `restricted` Pod Security Standard, with a read-only root filesystem."""
    for part, workload in workloads(rendered[name]).items():
        spec = pod_spec(workload)
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 0, part
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, part
        assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False, part
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), part
        assert all("hostPath" not in v for v in spec.get("volumes", [])), part
        for container in containers(workload):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, (part, container["name"])
            assert security["capabilities"] == {"drop": ["ALL"]}, (part, container["name"])
            assert security["readOnlyRootFilesystem"] is True, (part, container["name"])
            assert security["runAsNonRoot"] is True and not security.get("privileged"), (part, container["name"])
    # The users the images were built with (numeric USER lines), so file ownership in the images holds.
    found = workloads(rendered[name])
    for part in ("llm-api", "model-worker", "web", "realtime"):
        if part in found:
            assert pod_spec(found[part])["securityContext"]["runAsUser"] == _dockerfile_user(part)


def _mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def test_writable_paths_are_volumes(default):
    """With a read-only root, what each process writes is a volume: /tmp everywhere, caches and data on PVCs."""
    found = workloads(default)
    for part in ("llm-api", "model-worker", "ollama", "web", "postgresql", "ollama-pull"):
        assert "/tmp" in _mounts(main_container(found[part])), part
    worker = main_container(found["model-worker"])
    assert env_values(worker)["HOME"] == "/tmp"
    assert {"/dev/shm", "/cache/huggingface"} <= set(_mounts(worker))
    assert "/app/.next/cache" in _mounts(main_container(found["web"]))
    assert {"/var/run/postgresql", "/var/lib/postgresql/data"} <= set(_mounts(main_container(found["postgresql"])))


def test_volumes_hold_models_and_history(default):
    found = workloads(default)
    # Ollama: a StatefulSet whose claim holds $HOME/.ollama (models and the server's key), kept on delete/scale.
    ollama = found["ollama"]
    claim = ollama["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    container = main_container(ollama)
    mount = next(p for p, n in _mounts(container).items() if n == claim["metadata"]["name"])
    assert env_values(container)["OLLAMA_MODELS"].startswith(env_values(container)["HOME"] + "/")
    assert env_values(container)["OLLAMA_MODELS"].startswith(mount + "/")
    assert ollama["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    # The worker: its own PVC at HF_HOME, kept by `helm uninstall`.
    worker = found["model-worker"]
    pvc = named(default, "PersistentVolumeClaim", "ai-local-ai-stack-hf-cache")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volume = next(v for v in pod_spec(worker)["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert _mounts(main_container(worker))[env_values(main_container(worker))["HF_HOME"]] == volume["name"]
    assert worker["spec"]["strategy"] == {"type": "Recreate"}
    # PostgreSQL: a claim of its own, PGDATA below the mount point.
    postgres = found["postgresql"]
    assert postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert env_values(main_container(postgres))["PGDATA"].startswith(
        next(p for p, n in _mounts(main_container(postgres)).items() if n == "data") + "/")


def test_an_existing_hf_cache_claim_is_used_not_created(rendered):
    objects = rendered["locked-down"]
    assert not by_kind(objects, "PersistentVolumeClaim")
    volume = next(v for v in pod_spec(workloads(objects)["model-worker"])["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == "hf-cache-prefilled"


def _pull_job(values: dict[str, Any]) -> dict[str, Any]:
    return workloads(render(values))["ollama-pull"]


def test_models_are_pulled_once_by_a_job_with_compose_s_script(default):
    job = workloads(default)["ollama-pull"]
    container = main_container(job)
    script = named(default, "ConfigMap", "ai-local-ai-stack-ollama-pull")["data"]["pull-models.sh"]
    assert script == (REPO_ROOT / "ollama" / "pull-models.sh").read_text(), "the chart's copy differs from compose's"
    assert container["command"] == ["/bin/sh", "/scripts/pull-models.sh"]
    values = env_values(container)
    assert values["OLLAMA_HOST"] == "http://ai-local-ai-stack-ollama:11434"
    compose = (REPO_ROOT / "compose.yaml").read_text()
    assert values["OLLAMA_PULL_MODELS"] == re.search(r"\$\{OLLAMA_PULL_MODELS:-([^}]+)\}", compose).group(1)
    assert int(values["OLLAMA_WAIT_S"]) >= 600
    assert pod_spec(job)["restartPolicy"] == "Never"
    # The Job is named by its pod template: an unchanged release keeps the finished Job (nothing is pulled again),
    # new models make a new one (a Job's template cannot change in place).
    assert job["metadata"]["name"] == _pull_job({})["metadata"]["name"]
    assert _pull_job({"ollama": {"pullModels": "qwen2.5:0.5b"}})["metadata"]["name"] != job["metadata"]["name"]
    assert _pull_job({"llmApi": {"replicas": 5}})["metadata"]["name"] == job["metadata"]["name"]


def test_the_pull_job_can_be_left_out():
    parts = workloads(render({"ollama": {"pull": {"enabled": False}}}))
    assert "ollama-pull" not in parts and "ollama" in parts


# --- configuration and secrets -----------------------------------------------------------------------------------


SECRET_ENV = re.compile(r"(API_KEY|LLM_API_KEY|PGPASSWORD|HF_TOKEN|PASSWORD|TOKEN)$")
INLINE_SECRETS = ("s3cret", "inline-key-for-ci", "not-a-real-key", "hf_inline_token_for_ci")


@pytest.mark.parametrize("name", SET_NAMES)
def test_secrets_are_referenced_never_inlined(rendered, name):
    objects = rendered[name]
    secrets = {o["metadata"]["name"] for o in by_kind(objects, "Secret")}
    values = load_values(VALUE_SETS[name])
    declared = {v for v in walk(values) if isinstance(v, str)}  # existingSecret names come from the values
    for part, workload in workloads(objects).items():
        for container in containers(workload):
            for variable, entry in env(container).items():
                if SECRET_ENV.search(variable):
                    ref = entry.get("valueFrom", {}).get("secretKeyRef")
                    assert ref, f"{name}: {part} gets {variable} as a plain value"
                    assert ref["name"] in secrets | declared, f"{name}: {variable} refers to a missing Secret"
            url = env_values(container).get("DATABASE_URL")
            if url:
                assert not re.match(r"^[a-z]+://[^/@]*:[^/@]*@", url), f"{name}: DATABASE_URL holds a password"
        for volume in pod_spec(workload).get("volumes", []):
            sources = [volume.get("secret")] + [s.get("secret") for s in volume.get("projected", {}).get("sources", [])]
            for source in filter(None, sources):
                assert source["secretName" if "secretName" in source else "name"] in secrets | declared
    # A secret given inline in the values is in a Secret only, never in a pod spec, a ConfigMap or the notes.
    others = yaml.safe_dump([o for o in objects if o["kind"] != "Secret"]) + notes(values)
    for value in INLINE_SECRETS:
        assert value not in others, f"{name}: {value!r} appears outside a Secret"


def test_the_api_key_reaches_the_llm_api_and_the_web_server(default):
    found = workloads(default)
    api_key = env(main_container(found["llm-api"]))["API_KEY"]["valueFrom"]["secretKeyRef"]
    web_key = env(main_container(found["web"]))["LLM_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert api_key == web_key == {"name": "ai-local-ai-stack-api-key", "key": "api-key"}
    secret = named(default, "Secret", "ai-local-ai-stack-api-key")
    assert len(secret["data"]["api-key"]) >= 40  # generated: base64 of 40 random characters
    without = workloads(render({"auth": {"enabled": False}}))
    assert "API_KEY" not in env(main_container(without["llm-api"]))
    assert "LLM_API_KEY" not in env(main_container(without["web"]))


def test_existing_secrets_and_backend_key_files(rendered):
    objects = rendered["external-database"]
    assert {o["metadata"]["name"] for o in by_kind(objects, "Secret")} == {"ai-local-ai-stack-backends"}
    llm_api = workloads(objects)["llm-api"]
    container = main_container(llm_api)
    values = env_values(container)
    assert values["OPENAI_BACKENDS"] == ("gemini=https://generativelanguage.googleapis.com/v1beta/openai,"
                                         "local-vllm=http://vllm.inference.svc:8000/v1")
    assert values["OPENAI_BACKEND_GEMINI_MODELS"] == "gemini-2.5-flash,gemini-2.5-pro"
    assert values["OPENAI_BACKEND_GEMINI_API_KEY_FILE"] == "/etc/llm-api/backends/gemini"
    assert values["OPENAI_BACKEND_LOCAL_VLLM_API_KEY_FILE"] == "/etc/llm-api/backends/local-vllm"
    assert not any(name.endswith("_API_KEY") and name != "API_KEY" for name in env(container))
    assert env(container)["API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "llm-api-auth", "key": "key"}
    volumes = {v["name"]: v for v in pod_spec(llm_api)["volumes"]}
    sources = [s["secret"] for s in volumes["backend-keys"]["projected"]["sources"]]
    assert sources == [
        {"name": "llm-api-backend-keys", "items": [{"key": "gemini", "path": "gemini"}]},
        {"name": "ai-local-ai-stack-backends", "items": [{"key": "local-vllm", "path": "local-vllm"}]},
    ]
    assert _mounts(container)["/etc/llm-api/backends"] == "backend-keys"
    hf = env(main_container(workloads(objects)["model-worker"]))["HF_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert hf == {"name": "hf-token", "key": "token"}


def test_llm_api_replicas_share_the_bundled_postgresql(default):
    container = main_container(workloads(default)["llm-api"])
    url = env_values(container)["DATABASE_URL"]
    assert url == "postgresql://llm_api@ai-local-ai-stack-postgresql:5432/llm_api"
    assert env(container)["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "ai-local-ai-stack-postgresql", "key": "password"}
    postgres = main_container(workloads(default)["postgresql"])
    assert env_values(postgres)["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgresql/password"
    secret = named(default, "Secret", "ai-local-ai-stack-postgresql")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "DATABASE_URL_FILE" not in env(container)


@pytest.mark.parametrize("name", ["external-database", "inline-database", "gke-autopilot"])
def test_an_external_database_url_is_a_mounted_secret_file(rendered, name):
    objects = rendered[name]
    assert "postgresql" not in workloads(objects)
    llm_api = workloads(objects)["llm-api"]
    container = main_container(llm_api)
    assert "DATABASE_URL" not in env(container) and "PGPASSWORD" not in env(container)
    path = env_values(container)["DATABASE_URL_FILE"]
    mount_dir, file_name = path.rsplit("/", 1)
    volume = next(v for v in pod_spec(llm_api)["volumes"] if v["name"] == _mounts(container)[mount_dir])
    values = load_values(VALUE_SETS[name])["database"]["external"]
    secret_name = values.get("existingSecret") or "ai-local-ai-stack-database"
    key = values.get("existingSecretKey", "database-url")
    assert volume["secret"]["secretName"] == secret_name
    assert volume["secret"]["items"] == [{"key": key, "path": file_name}]
    if values.get("url"):
        secret = named(objects, "Secret", secret_name)
        assert base64.b64decode(secret["data"][key]).decode() == values["url"]


def test_cloud_sql_proxy_and_workload_identity(rendered):
    objects = rendered["gke-autopilot"]
    llm_api = workloads(objects)["llm-api"]
    proxy = pod_spec(llm_api)["initContainers"][0]
    assert proxy["name"] == "cloud-sql-proxy" and proxy["restartPolicy"] == "Always"  # a native sidecar
    assert proxy["args"][-1] == "PROJECT_ID:REGION:local-ai-stack" and "--port=5432" in proxy["args"]
    assert proxy["image"].startswith("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.")
    account = named(objects, "ServiceAccount", pod_spec(llm_api)["serviceAccountName"])
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    # Only the llm-api's ServiceAccount carries the cloud identity.
    for part, workload in workloads(objects).items():
        if part != "llm-api":
            other = named(objects, "ServiceAccount", pod_spec(workload)["serviceAccountName"])
            assert "annotations" not in other["metadata"], part


_LIBRARY_VARIABLES = {
    "llm-api": {"WEB_CONCURRENCY", "PGPASSWORD"},  # gunicorn.conf.py; libpq
    "model-worker": {"HF_TOKEN", "HF_HUB_OFFLINE", "HF_HOME", "HOME"},  # huggingface_hub; every library's caches
    "web": {"PORT", "HOSTNAME"},  # Next.js standalone server.js
    "realtime": {"HF_TOKEN", "HF_HOME", "HOME"},  # huggingface_hub; every library's caches
}
_SOURCES = {
    "llm-api": ["llm-api/llm_api/config.py", "llm-api/gunicorn.conf.py"],
    "model-worker": ["model-worker/model_worker/config.py", "model-worker/gunicorn.conf.py"],
    "web": ["web/src/lib/settings.ts", "web/src/lib/proxy.ts", "web/src/app/api/[...path]/route.ts"],
    "realtime": ["realtime/realtime_voice/config.py"],
}


@pytest.mark.parametrize("part", sorted(_SOURCES))
def test_every_variable_the_chart_sets_is_read_by_the_service(rendered, part):
    text = "\n".join((REPO_ROOT / path).read_text() for path in _SOURCES[part])
    read = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text)) | set(re.findall(r"[\"'.]([A-Z][A-Z0-9_]+)\b",
                                                                                           text))
    backend = re.compile(r"^OPENAI_BACKEND_[A-Z0-9_]+_(API_KEY_FILE|MODELS)$")  # names derived per backend
    present = [name for name in SET_NAMES if part in workloads(rendered[name])]
    assert present, f"no value set renders {part}"
    for name in present:
        names = set(env(main_container(workloads(rendered[name])[part])))
        unread = {n for n in names - read - _LIBRARY_VARIABLES[part] if not backend.match(n)}
        assert unread == set(), f"{name}: the chart sets variables {part} never reads"


def test_shared_limits_reach_both_services_equal(rendered):
    for name in SET_NAMES:
        found = workloads(rendered[name])
        limits = ("MAX_JSON_MB", "MAX_PROMPT_CHARS", "MAX_AUDIO_SECONDS", "MAX_IMAGE_PIXELS")
        api, worker = env_values(main_container(found["llm-api"])), env_values(main_container(found["model-worker"]))
        assert {k: api[k] for k in limits} == {k: worker[k] for k in limits}
        assert api["MAX_IMAGE_PIXELS"] == "40000000"  # not 4e+07: numbers stay integers


def test_numbers_in_values_files_stay_integers():
    found = workloads(render({"requestLimits": {"MAX_IMAGE_PIXELS": 40000000}, "llmApi": {"workers": 4}}))
    api = env_values(main_container(found["llm-api"]))
    assert api["MAX_IMAGE_PIXELS"] == "40000000" and api["WEB_CONCURRENCY"] == "4"


def test_services_reach_the_pods_the_urls_name(default):
    """OLLAMA_URL, WORKER_URL, DATABASE_URL and LLM_API_URL name rendered Services that select the right pods."""
    found = workloads(default)
    api, web = env_values(main_container(found["llm-api"])), env_values(main_container(found["web"]))
    targets = {api["OLLAMA_URL"]: "ollama", api["WORKER_URL"]: "model-worker", web["LLM_API_URL"]: "llm-api",
               api["DATABASE_URL"].replace("llm_api@", ""): "postgresql"}
    for url, part in targets.items():
        host, port = re.match(r"^\w+://([^:/]+):(\d+)", url).groups()
        service = named(default, "Service", host)
        assert service["spec"]["selector"] == {k: v for k, v in found[part]["spec"]["selector"]["matchLabels"].items()}
        service_port = next(p for p in service["spec"]["ports"] if p["port"] == int(port))
        container_ports = {p["name"]: p["containerPort"] for p in main_container(found[part])["ports"]}
        assert service_port["targetPort"] in container_ports, (part, service_port)
    worker_service = named(default, "Service", "ai-local-ai-stack-model-worker")
    assert worker_service["spec"]["publishNotReadyAddresses"] is True  # the llm-api sees `loading`, not `down`


# --- NetworkPolicies: compose's frontnet and backnet -------------------------------------------------------------


def _stack_pods(objects: list[dict[str, Any]]) -> dict[str, Pod]:
    return {part: Pod(part, labels=w["spec"]["template"]["metadata"]["labels"], ip=f"10.1.0.{i}")
            for i, (part, w) in enumerate(sorted(workloads(objects).items()), start=10)}


def _ports(objects: list[dict[str, Any]]) -> dict[str, list[int]]:
    return {part: [p["containerPort"] for c in containers(w) for p in c.get("ports", [])]
            for part, w in workloads(objects).items()}


def _connections(objects: list[dict[str, Any]], sources: dict[str, Pod]) -> set[tuple[str, str, int]]:
    cluster = Cluster(by_kind(objects, "NetworkPolicy"))
    pods = _stack_pods(objects)
    return {(source_name, part, port)
            for source_name, source in sources.items() for part, pod in pods.items()
            for port in _ports(objects)[part] if source_name != part and cluster.allowed(source, pod, port)}


STRANGER = Pod("stranger", labels={"app": "something-else"}, ip="10.2.0.7")
ELSEWHERE = Pod("elsewhere", labels={"app": "x"}, namespace="other", namespace_labels={
    "kubernetes.io/metadata.name": "other"}, ip="10.3.0.9")
PROMETHEUS = Pod("prometheus", labels={"app.kubernetes.io/name": "prometheus"}, namespace="monitoring",
                 namespace_labels={"kubernetes.io/metadata.name": "monitoring"}, ip="10.4.0.2")
INGRESS_NGINX = Pod("ingress-nginx", labels={"app.kubernetes.io/name": "ingress-nginx"}, namespace="ingress-nginx",
                    namespace_labels={"kubernetes.io/metadata.name": "ingress-nginx"}, ip="10.5.0.3")
COMPOSE_TRAFFIC = {("web", "llm-api", 8080), ("llm-api", "ollama", 11434), ("llm-api", "model-worker", 8000),
                   ("llm-api", "postgresql", 5432), ("ollama-pull", "ollama", 11434), ("llm-api", "realtime", 8998)}


@pytest.mark.parametrize("name", SET_NAMES)
def test_network_policies_isolate_every_pod(rendered, name):
    objects = rendered[name]
    cluster = Cluster(by_kind(objects, "NetworkPolicy"))
    for part, pod in _stack_pods(objects).items():
        assert cluster.isolated(pod, "Ingress") and cluster.isolated(pod, "Egress"), part


def test_network_policies_allow_only_compose_traffic_between_the_parts(rendered):
    """Between the parts, exactly compose's edges. The web app's port is the public entry: when it is open to any
    source (an Ingress controller, a load balancer), it is open to the parts too, as a published port is in compose."""
    for name in SET_NAMES:
        objects = rendered[name]
        inside = _connections(objects, _stack_pods(objects))
        if ("elsewhere", "web", 3000) in _connections(objects, {"elsewhere": ELSEWHERE}):
            inside = {c for c in inside if c[1:] != ("web", 3000)}
        present = set(workloads(objects))
        assert inside == {c for c in COMPOSE_TRAFFIC if c[0] in present and c[1] in present}, name


def test_from_outside_only_the_web_app_is_open(default):
    for outsider in (STRANGER, ELSEWHERE, INGRESS_NGINX, PROMETHEUS):
        assert _connections(default, {outsider.name: outsider}) == {(outsider.name, "web", 3000)}


def test_the_web_app_cannot_reach_the_model_tier(default):
    """compose's point of two networks: the web container reaches the llm-api and nothing else."""
    cluster = Cluster(by_kind(default, "NetworkPolicy"))
    pods = _stack_pods(default)
    web = pods["web"]
    for part, port in (("ollama", 11434), ("model-worker", 8000), ("postgresql", 5432)):
        assert not cluster.egress_allowed(web, pods[part], port) and not cluster.ingress_allowed(web, pods[part], port)
    assert not cluster.egress_allowed(web, Pod("internet", ip="203.0.113.9"), 443)
    assert cluster.egress_allowed(web, Pod("kube-dns", namespace="kube-system", ip="10.96.0.10"), 53)


def test_ingress_set_opens_the_web_app_and_api_to_the_controller_only(rendered):
    objects = rendered["ingress"]
    assert _connections(objects, {"ingress-nginx": INGRESS_NGINX}) == {
        ("ingress-nginx", "web", 3000), ("ingress-nginx", "llm-api", 8080)}
    assert _connections(objects, {"stranger": STRANGER, "elsewhere": ELSEWHERE}) == set()


def test_an_exposed_api_without_a_peer_list_is_open(default):
    objects = render({"ingress": {"enabled": True, "api": {"host": "api.example.com"}}})
    assert ("stranger", "llm-api", 8080) in _connections(objects, {"stranger": STRANGER})
    assert ("stranger", "llm-api", 8081) not in _connections(objects, {"stranger": STRANGER})


def test_prometheus_scrapes_only_the_metrics_endpoints(rendered):
    objects = rendered["monitoring"]
    assert _connections(objects, {"prometheus": PROMETHEUS}) == {
        ("prometheus", "web", 3000), ("prometheus", "llm-api", 8081), ("prometheus", "model-worker", 8000)}
    other_namespace = Pod("prometheus", labels=PROMETHEUS.labels, namespace="other",
                          namespace_labels={"kubernetes.io/metadata.name": "other"})
    assert _connections(objects, {"p": other_namespace}) == {("p", "web", 3000)}


def test_external_egress_follows_allow_external_egress(rendered):
    internet = Pod("internet", ip="203.0.113.9")
    for name, open_egress in (("default", True), ("locked-down", False)):
        objects = rendered[name]
        cluster = Cluster(by_kind(objects, "NetworkPolicy"))
        pods = _stack_pods(objects)
        for part in ("ollama", "model-worker", "llm-api"):
            assert cluster.egress_allowed(pods[part], internet, 443) is open_egress, (name, part)
        for part in ("web", "postgresql", "ollama-pull"):
            assert not cluster.egress_allowed(pods[part], internet, 443), (name, part)
    locked = Cluster(by_kind(rendered["locked-down"], "NetworkPolicy"))
    proxy = Pod("proxy", ip="10.20.3.4")
    assert locked.egress_allowed(_stack_pods(rendered["locked-down"])["llm-api"], proxy, 443)  # extraEgress


# --- the rest of the objects -------------------------------------------------------------------------------------


def test_pod_disruption_budgets_select_their_pods(rendered):
    for name in SET_NAMES:
        objects = rendered[name]
        found = workloads(objects)
        for pdb in by_kind(objects, "PodDisruptionBudget"):
            part = pdb["metadata"]["labels"]["app.kubernetes.io/component"]
            assert pdb["spec"]["selector"] == found[part]["spec"]["selector"], (name, part)
            if "minAvailable" in pdb["spec"]:  # never a budget that forbids every eviction
                assert found[part]["spec"]["replicas"] > pdb["spec"]["minAvailable"], (name, part)
    assert {p["metadata"]["labels"]["app.kubernetes.io/component"]
            for p in by_kind(rendered["locked-down"], "PodDisruptionBudget")} == {
        "llm-api", "web", "ollama", "model-worker", "postgresql"}


def test_ingress_routes_hosts_to_the_web_app_and_the_api(rendered):
    ingress = by_kind(rendered["ingress"], "Ingress")[0]
    routes = {rule.get("host"): rule["http"]["paths"][0]["backend"]["service"] for rule in ingress["spec"]["rules"]}
    assert routes == {"ai.example.com": {"name": "ai-local-ai-stack-web", "port": {"name": "http"}},
                      "api.ai.example.com": {"name": "ai-local-ai-stack-llm-api", "port": {"name": "http"}}}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"][0]["secretName"] == "ai-example-com-tls"
    k3s = by_kind(rendered["k3s"], "Ingress")[0]
    assert k3s["spec"]["ingressClassName"] == "traefik"


def test_service_monitors_scrape_the_metrics_ports(rendered):
    objects = rendered["monitoring"]
    monitors = {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in by_kind(objects, "ServiceMonitor")}
    assert set(monitors) == {"llm-api", "model-worker"}
    for part, port_name, port in (("llm-api", "metrics", 8081), ("model-worker", "http", 8000)):
        monitor = monitors[part]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        endpoint = monitor["spec"]["endpoints"][0]
        assert endpoint["path"] == "/metrics" and endpoint["port"] == port_name
        service = next(s for s in by_kind(objects, "Service") if s["metadata"]["name"].endswith(part))
        assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]}[port_name] == port
    api = env_values(main_container(workloads(objects)["llm-api"]))
    assert api["METRICS_PORT"] == "8081" and api["PORT"] == "8080"


def test_pod_monitorings_for_managed_prometheus(rendered):
    objects = rendered["gke-autopilot"]
    monitors = {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in by_kind(objects, "PodMonitoring")}
    assert set(monitors) == {"llm-api", "model-worker"}
    found = workloads(objects)
    for part, port_name in (("llm-api", "metrics"), ("model-worker", "http")):
        assert monitors[part]["spec"]["selector"] == found[part]["spec"]["selector"]
        endpoint = monitors[part]["spec"]["endpoints"][0]
        assert endpoint["port"] == port_name and endpoint["path"] == "/metrics"
        assert port_name in {p["name"] for p in main_container(found[part])["ports"]}
    collector = Pod("collector", labels={"app.kubernetes.io/name": "collector"}, namespace="gmp-system",
                    namespace_labels={"kubernetes.io/metadata.name": "gmp-system"})
    assert _connections(objects, {"c": collector}) == {("c", "web", 3000), ("c", "llm-api", 8081),
                                                       ("c", "model-worker", 8000)}


@pytest.mark.parametrize(("values", "message"), [
    ({"database": {"external": {"url": "postgresql://u:p@h/db"}}}, "not both"),
    ({"postgresql": {"enabled": False}}, "needs PostgreSQL"),
    ({"postgresql": {"enabled": False}, "database": {"external": {"url": "mysql://h/db"}}}, "postgresql:// URL"),
    ({"openaiBackends": [{"name": "Bad Name", "baseUrl": "https://x"}]}, "openaiBackends/0/name"),
    ({"openaiBackends": [{"name": "a", "baseUrl": "https://x"}, {"name": "a", "baseUrl": "https://y"}]}, "twice"),
    ({"openaiBackends": [{"name": "a", "baseUrl": "ftp://x"}]}, "http"),
    ({"openaiBackends": [{"name": "a", "baseUrl": "https://x", "apiKey": "k", "existingSecret": "s"}]}, "not both"),
    ({"llmApi": {"metricsPort": 8080}}, "must differ"),
    ({"llmApi": {"cloudSqlProxy": {"enabled": True}}}, "instanceConnectionName"),
    ({"llmApi": {"cloudSqlProxy": {"enabled": True, "instanceConnectionName": "p:r:i"}}}, "external database"),
])
def test_bad_values_fail_with_a_readable_message(values, message):
    with pytest.raises(helm.HelmError, match=message):
        render(values)


def test_the_api_can_run_without_ollama_or_worker():
    objects = render({"ollama": {"enabled": False}, "worker": {"enabled": False}})
    found = workloads(objects)
    assert set(found) == {"llm-api", "web", "postgresql"}
    api = env_values(main_container(found["llm-api"]))
    assert api["OLLAMA_URL"] == "none"
    external = env_values(main_container(workloads(render(
        {"ollama": {"enabled": False, "externalUrl": "http://gpu-box:11434"}}))["llm-api"]))
    assert external["OLLAMA_URL"] == "http://gpu-box:11434"


def test_two_renderings_differ_only_in_generated_secrets():
    """Nothing but a generated key changes between two renders (no pod rolls on an unchanged upgrade)."""
    first, second = render({}), render({})
    for a, b in zip(first, second, strict=True):
        if a["kind"] == "Secret":
            assert a["metadata"] == b["metadata"]
        else:
            assert a == b, f"{a['kind']}/{a['metadata']['name']} differs between two renders"
    pinned = {"auth": {"apiKey": "k"}, "postgresql": {"auth": {"password": "p"}}}
    assert render(pinned) == render(pinned)


def test_names_fit_kubernetes_limits():
    long_release = {"fullnameOverride": "a" * 70}
    for obj in render(long_release):
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]


# --- the real-time voice service (realtime/, off by default) -----------------------------------------------------


REALTIME = "ai-local-ai-stack-realtime"
REALTIME_ON = {"realtime": {"enabled": True}}


def _part_objects(objects: list[dict[str, Any]], part: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == part]


def test_realtime_is_off_by_default(default):
    """No real-time objects at all, and the llm-api is told so (REALTIME_URL=none: "switched off", no DNS wait)."""
    assert _part_objects(default, "realtime") == []
    assert not any("realtime" in o["metadata"]["name"] for o in default)
    assert env_values(main_container(workloads(default)["llm-api"]))["REALTIME_URL"] == "none"
    assert "realtime" not in notes()


def test_realtime_renders_a_gpu_deployment_and_a_service_that_validate(rendered):
    objects = rendered["realtime"]
    mine = _part_objects(objects, "realtime")
    assert {(o["kind"], o["metadata"]["name"]) for o in mine} == {
        ("Deployment", REALTIME), ("Service", REALTIME), ("PersistentVolumeClaim", f"{REALTIME}-hf-cache"),
        ("NetworkPolicy", REALTIME), ("ServiceMonitor", REALTIME)}
    for obj in mine:
        for kube_version in KUBE_VERSIONS:
            validate(obj, kube_version)
    deployment = named(objects, "Deployment", REALTIME)
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec, container = pod_spec(deployment), main_container(deployment)
    assert container["image"] == "local-ai-stack-realtime:0.1.0"
    # A GPU of its own, scheduled like the worker's (the GPU toleration) plus the set's own nodeSelector.
    assert container["resources"]["limits"][GPU] == 1
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    # Probes: alive while the model loads (/healthz), ready once it is loaded (/readyz); half an hour to start.
    assert _http_probe(container, "startupProbe") == ("/healthz", 8998)
    assert _http_probe(container, "livenessProbe") == ("/healthz", 8998)
    assert _http_probe(container, "readinessProbe") == ("/readyz", 8998)
    assert _probe_budget_s(container["startupProbe"]) >= 1800
    # Non-root as the image's user, restricted, no token, the stack's shared ServiceAccount (not the llm-api's).
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == _dockerfile_user("realtime") == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "ai-local-ai-stack"
    named(objects, "ServiceAccount", spec["serviceAccountName"])
    # Its Hugging Face cache: a PVC of its own at HF_HOME, kept by `helm uninstall`; /tmp for $HOME's caches.
    values = env_values(container)
    pvc = named(objects, "PersistentVolumeClaim", f"{REALTIME}-hf-cache")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "40Gi"
    volume = next(v for v in spec["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert values["HF_HOME"] == "/cache/huggingface" and _mounts(container)["/cache/huggingface"] == volume["name"]
    assert values["HOME"] == "/tmp" and "/tmp" in _mounts(container)
    assert values["PORT"] == "8998" and values["DEVICE"] == "cuda"
    assert values["IDLE_TIMEOUT_S"] == "20"  # the set's own setting
    # The Service the llm-api's REALTIME_URL names selects this pod on its port.
    service = named(objects, "Service", REALTIME)
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    api = env_values(main_container(workloads(objects)["llm-api"]))
    host, port = re.match(r"^http://([^:/]+):(\d+)$", api["REALTIME_URL"]).groups()
    assert (host, int(port)) == (REALTIME, 8998)
    service_port = next(p for p in service["spec"]["ports"] if p["port"] == int(port))
    assert {p["name"]: p["containerPort"] for p in container["ports"]}[service_port["targetPort"]] == 8998


def test_realtime_settings_default_to_compose_s():
    container = main_container(workloads(render(REALTIME_ON))["realtime"])
    values = env_values(container)
    compose = (REPO_ROOT / "compose.yaml").read_text()
    for variable, compose_name in (("MOSHI_REPO", "MOSHI_REPO"), ("DTYPE", "REALTIME_DTYPE"),
                                   ("MAX_CONVERSATIONS", "REALTIME_MAX_CONVERSATIONS"),
                                   ("IDLE_TIMEOUT_S", "REALTIME_IDLE_TIMEOUT_S"),
                                   ("MAX_CONVERSATION_S", "REALTIME_MAX_CONVERSATION_S")):
        assert values[variable] == re.search(rf"\${{{compose_name}:-([^}}]+)}}", compose).group(1), variable
    assert values["MOSHI_REPO"] == "nu-dialogue/j-moshi-ext" and values["MAX_CONVERSATION_S"] == "900"
    assert "HF_TOKEN" not in env(container)


def test_realtime_network_policy_admits_only_the_llm_api_and_the_scrapers(rendered):
    objects = rendered["realtime"]
    outsiders = {p.name: p for p in (STRANGER, ELSEWHERE, INGRESS_NGINX, PROMETHEUS)}
    reach = {c for c in _connections(objects, _stack_pods(objects) | outsiders) if c[1] == "realtime"}
    assert reach == {("llm-api", "realtime", 8998), ("prometheus", "realtime", 8998)}
    elsewhere = Pod("prometheus", labels=PROMETHEUS.labels, namespace="other",
                    namespace_labels={"kubernetes.io/metadata.name": "other"})
    assert not {c for c in _connections(objects, {"p": elsewhere}) if c[1] == "realtime"}
    # Without a monitor, the llm-api alone.
    plain = render(REALTIME_ON)
    reach = {c for c in _connections(plain, _stack_pods(plain) | outsiders) if c[1] == "realtime"}
    assert reach == {("llm-api", "realtime", 8998)}
    # Without internet egress, the llm-api still reaches it; it reaches DNS only (its weights are in the cache).
    locked = render({**REALTIME_ON, "networkPolicy": {"allowExternalEgress": False}})
    cluster, pods = Cluster(by_kind(locked, "NetworkPolicy")), _stack_pods(locked)
    assert cluster.allowed(pods["llm-api"], pods["realtime"], 8998)
    assert not cluster.egress_allowed(pods["realtime"], Pod("internet", ip="203.0.113.9"), 443)
    assert cluster.egress_allowed(pods["realtime"], Pod("kube-dns", namespace="kube-system", ip="10.96.0.10"), 53)
    assert Cluster(by_kind(plain, "NetworkPolicy")).egress_allowed(  # the first start downloads from Hugging Face
        _stack_pods(plain)["realtime"], Pod("internet", ip="203.0.113.9"), 443)


def test_realtime_metrics_are_scraped_with_the_other_endpoints(rendered):
    objects = rendered["realtime"]
    monitor = named(objects, "ServiceMonitor", REALTIME)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "http" and monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service = named(objects, "Service", REALTIME)
    assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert not by_kind(render(REALTIME_ON), "ServiceMonitor")
    # GKE: a PodMonitoring beside the others, and the GPU pod's accelerator nodeSelector.
    gke = render({**load_values(VALUE_SETS["gke-autopilot"]), **REALTIME_ON})
    pod_monitoring = named(gke, "PodMonitoring", REALTIME)
    validate(pod_monitoring, KUBE_VERSIONS[-1])
    realtime = workloads(gke)["realtime"]
    assert pod_monitoring["spec"]["selector"] == realtime["spec"]["selector"]
    assert pod_monitoring["spec"]["endpoints"][0]["port"] == "http"
    assert pod_spec(realtime)["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert "tolerations" not in pod_spec(realtime)


def test_realtime_without_a_gpu_runs_on_cpu():
    for values in ({"gpu": {"enabled": False}, **REALTIME_ON}, {"realtime": {"enabled": True, "gpu": {"count": 0}}}):
        realtime = workloads(render(values))["realtime"]
        assert _gpus(main_container(realtime)) == 0
        assert env_values(main_container(realtime))["DEVICE"] == "cpu"
        assert GPU not in [t.get("key") for t in pod_spec(realtime).get("tolerations", [])]


def test_realtime_cache_claim_token_and_budget_follow_the_values():
    objects = render({"realtime": {"enabled": True, "persistence": {"existingClaim": "moshi-cache"},
                                   "pdb": {"enabled": True}},
                      "worker": {"enabled": False, "hfToken": {"value": "hf_inline_token_for_ci"}}})
    realtime = workloads(objects)["realtime"]
    assert {o["metadata"]["name"] for o in by_kind(objects, "PersistentVolumeClaim")} == set()
    volume = next(v for v in pod_spec(realtime)["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == "moshi-cache"
    # The stack's one HF token, from its Secret, even with the worker off.
    token = env(main_container(realtime))["HF_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "ai-local-ai-stack-hf-token", "key": "token"}
    named(objects, "Secret", token["name"])
    pdb = named(objects, "PodDisruptionBudget", REALTIME)
    assert pdb["spec"]["selector"] == realtime["spec"]["selector"] and pdb["spec"]["maxUnavailable"] == 1
    for obj in render({"fullnameOverride": "a" * 70, **REALTIME_ON}):
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]


# --- documentation -----------------------------------------------------------------------------------------------


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node and all(k[:1].islower() for k in node):
        return [p for key, value in node.items() for p in _leaf_paths(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def test_every_value_is_in_the_readme_table():
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    section = (CHART / "README.md").read_text().split("\n## Values\n", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| (`[^|]+)\|", section, re.M)
    documented = {path for cell in first_cells for path in re.findall(r"`([^`]+)`", cell)}
    for path in _leaf_paths(defaults):
        parts = path.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        assert prefixes & documented, f"values.yaml's {path} is missing from the README's values table"
    for path in documented:  # and the table documents nothing that does not exist
        node: Any = defaults
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"the README documents {path}, which values.yaml lacks"
            node = node[key]


def test_values_schema_is_current_and_refuses_typos():
    """values.schema.json is values.yaml's shape (deploy/helm/values_schema.py); Helm refuses values outside it."""
    assert (CHART / "values.schema.json").read_text() == values_schema.render(), (
        "values.schema.json is stale: run .venv/bin/python deploy/helm/values_schema.py")
    with helm.Chart.load(CHART) as chart:
        for path in VALUE_SETS.values():
            chart.validate_schema(load_values(path))
    for bad, where in (({"llmapi": {"replicas": 3}}, "llmapi"), ({"llmApi": {"replicas": "two"}}, "/llmApi/replicas"),
                       ({"worker": {"persistance": {"size": "1Gi"}}}, "persistance"),
                       ({"ollama": {"image": {"tag": "latest"}}}, "/ollama/image/tag"),
                       ({"openaiBackends": [{"name": "x"}]}, "baseUrl")):
        with pytest.raises(helm.HelmError, match=where):
            render(bad)


def test_names_in_the_readme_are_the_rendered_ones(rendered):
    """The walkthroughs' kubectl commands name objects of a release called `ai`: those names must be real."""
    readme = (CHART / "README.md").read_text() + notes()
    names = {o["metadata"]["name"] for objects in rendered.values() for o in objects}
    for name in set(re.findall(r"\bai-local-ai-stack[a-z0-9-]*", readme)):
        real = (any(n.startswith(name) for n in names) if name.endswith("-")  # "<job>-*"
                else name in names or name.removesuffix("-0") in names)  # a StatefulSet's first pod
        assert real, f"the README names {name}, which is not rendered"


def test_top_level_readme_points_to_the_chart():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "deploy/helm/local-ai-stack/README.md" in readme
