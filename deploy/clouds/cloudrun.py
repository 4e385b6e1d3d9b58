"""Google Cloud Run: the worker image as a service with one NVIDIA L4 GPU serving the Omni model's feedback route
(`POST /omni/feedback`), scaling to zero when idle (min instances 0).

The trade-off of scaling to zero: an idle service costs nothing, but the first request after idle waits for a new
instance to start and load Omni (pulling the image and the ~7 GB checkpoint unless --hf-cache-bucket keeps it in a
Cloud Storage volume): minutes, not seconds. Cloud Run holds that request until the startup probe (/readyz, every
10 s for --startup-timeout-s) passes, so --request-timeout-s must cover a cold start. The liveness probe is /healthz,
which answers while an inference runs, so a busy instance is never restarted. Set --min-instances 1 to keep one
instance warm at its hourly price around the clock.

The service requires authentication unless --allow-unauthenticated; `test` then sends an ID token minted from the
credentials (a service account), or CLOUD_RUN_ID_TOKEN (`gcloud auth print-identity-token`).
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from deploy import contract, pricing
from deploy.clouds import google_common
from deploy.console import Console
from deploy.errors import DeployError, import_sdk
from deploy.rollback import rolling_back
from deploy.settings import CommonSettings, setting

PACKAGE = "google-cloud-run"
PORT = 8080
PROBE_PERIOD_S = 10
HF_CACHE = "/cache/huggingface"
ROLE = "roles/run.developer and roles/iam.serviceAccountUser on the runtime service account"
QUOTA = "'Total Nvidia L4 GPU allocation, per project per region' for Cloud Run"


@dataclass(frozen=True)
class Settings(CommonSettings):
    name: str = setting("omni-feedback", "DEPLOY_NAME", "name of the Cloud Run service")
    models: str = setting("omni", "ENABLED_MODELS", "worker models the service loads (comma-separated)")
    project: str = setting("", "GOOGLE_CLOUD_PROJECT", "Google Cloud project (default: the credentials' project)")
    region: str = setting("us-central1", "CLOUD_RUN_REGION", "Cloud Run region with L4 GPUs")
    cpu: int = setting(8, "CLOUD_RUN_CPU", "vCPUs per instance (a GPU instance needs 4 or more)")
    memory_gib: int = setting(32, "CLOUD_RUN_MEMORY_GIB", "memory per instance in GiB (16 or more with a GPU)")
    min_instances: int = setting(0, "CLOUD_RUN_MIN_INSTANCES", "instances kept warm (0: scale to zero)")
    max_instances: int = setting(1, "CLOUD_RUN_MAX_INSTANCES", "most instances (each holds one L4)")
    concurrency: int = setting(4, "CLOUD_RUN_CONCURRENCY", "requests one instance takes at once (the worker queues)")
    request_timeout_s: int = setting(900, "CLOUD_RUN_REQUEST_TIMEOUT_S", "request timeout, cold start included")
    startup_timeout_s: int = setting(1200, "CLOUD_RUN_STARTUP_TIMEOUT_S", "how long /readyz may take to answer 200")
    hf_cache_bucket: str = setting("", "CLOUD_RUN_HF_CACHE_BUCKET", "Cloud Storage bucket mounted as the HF cache")
    service_account: str = setting("", "CLOUD_RUN_SERVICE_ACCOUNT", "runtime service account (default: compute's)")
    allow_unauthenticated: bool = setting(False, "CLOUD_RUN_ALLOW_UNAUTHENTICATED", "let anyone call the service")


SETTINGS = Settings


def _client(settings: Settings) -> tuple[Any, Any, str]:
    sdk = import_sdk("google.cloud.run_v2", PACKAGE, "Cloud Run")
    creds, project = google_common.credentials(settings.project, PACKAGE, "Cloud Run")
    client = sdk.ServicesClient(credentials=creds, transport="rest")
    return sdk, client, f"projects/{project}/locations/{settings.region}"


def service_resource(sdk: Any, settings: Settings, image: str) -> Any:
    if settings.cpu < 4 or settings.memory_gib < 16:
        raise DeployError("A Cloud Run GPU instance needs --cpu 4 or more and --memory-gib 16 or more.")
    env = {**settings.worker_environment(), "PORT": str(PORT)}
    mounts, volumes = [], []
    if settings.hf_cache_bucket:
        volumes.append(sdk.Volume(name="hf-cache", gcs=sdk.GCSVolumeSource(bucket=settings.hf_cache_bucket)))
        mounts.append(sdk.VolumeMount(name="hf-cache", mount_path=HF_CACHE))
        env["HF_HOME"] = HF_CACHE
    container = sdk.Container(
        image=image,
        ports=[sdk.ContainerPort(container_port=PORT)],
        env=[sdk.EnvVar(name=key, value=value) for key, value in env.items()],
        resources=sdk.ResourceRequirements(
            limits={"cpu": str(settings.cpu), "memory": f"{settings.memory_gib}Gi", "nvidia.com/gpu": "1"},
            cpu_idle=False, startup_cpu_boost=True,
        ),
        startup_probe=sdk.Probe(
            http_get=sdk.HTTPGetAction(path="/readyz", port=PORT), period_seconds=PROBE_PERIOD_S,
            timeout_seconds=5, failure_threshold=math.ceil(settings.startup_timeout_s / PROBE_PERIOD_S),
        ),
        liveness_probe=sdk.Probe(
            http_get=sdk.HTTPGetAction(path="/healthz", port=PORT), period_seconds=30, timeout_seconds=5,
            failure_threshold=3,
        ),
        volume_mounts=mounts,
    )
    return sdk.Service(
        labels=google_common.LABELS,
        invoker_iam_disabled=settings.allow_unauthenticated,
        template=sdk.RevisionTemplate(
            containers=[container], volumes=volumes,
            scaling=sdk.RevisionScaling(min_instance_count=settings.min_instances,
                                        max_instance_count=settings.max_instances),
            node_selector=sdk.NodeSelector(accelerator="nvidia-l4"),
            gpu_zonal_redundancy_disabled=True,
            max_instance_request_concurrency=settings.concurrency,
            timeout=google_common.duration(settings.request_timeout_s),
            service_account=settings.service_account,
        ),
    )


def _hourly(cpu: float, memory_gib: float) -> str:
    per_hour = pricing.cloud_run_hourly(1, cpu, memory_gib)
    return f"${per_hour:.2f}/h per running instance ({pricing.CLOUD_RUN_REGION} list price {pricing.PRICES_AS_OF})"


def create(settings: Settings, console: Console) -> None:
    image = settings.require_image("an Artifact Registry image, e.g. us-central1-docker.pkg.dev/PROJECT/REPO/worker:1")
    sdk, client, parent = _client(settings)
    service = service_resource(sdk, settings, image)
    name = f"{parent}/services/{settings.name}"
    with rolling_back(console) as created:
        operation = client.create_service(parent=parent, service=service, service_id=settings.name)
        created.add(f"service {name}", lambda: google_common.wait(
            client.delete_service(name=name), settings.wait_timeout_s, "deleting the service"))
        console.say("waiting for the first revision (an instance starts and loads Omni once to pass /readyz)")
        ready = google_common.wait(operation, settings.wait_timeout_s, "creating the service")
    console.say(f"service {settings.name} serves at {ready.uri}")
    idle = "$0.00/h while idle (scales to zero)" if settings.min_instances == 0 else (
        f"{settings.min_instances} instance(s) kept warm around the clock")
    console.say(f"cost: {_hourly(settings.cpu, settings.memory_gib)}; {idle}")


def _identity_token(audience: str, console: Console) -> str:
    """An ID token for the service: CLOUD_RUN_ID_TOKEN, or one minted from the credentials."""
    given = os.environ.get("CLOUD_RUN_ID_TOKEN", "").strip()
    if given:
        console.add_secret(given)
        return given
    from google.auth import exceptions
    from google.auth.transport.requests import Request
    from google.oauth2 import id_token

    try:
        token = id_token.fetch_id_token(Request(), audience)
    except exceptions.DefaultCredentialsError:
        raise DeployError(
            "These credentials cannot mint an ID token for Cloud Run (user credentials): export "
            'CLOUD_RUN_ID_TOKEN="$(gcloud auth print-identity-token)", or deploy with --allow-unauthenticated.'
        ) from None
    console.add_secret(token)
    return str(token)


def _get(client: Any, name: str) -> Any | None:
    try:
        return client.get_service(name=name)
    except Exception as error:
        if google_common.is_not_found(error):
            return None
        raise


def test(settings: Settings, console: Console) -> None:
    _, client, parent = _client(settings)
    service = _get(client, f"{parent}/services/{settings.name}")
    if service is None:
        raise DeployError(f"No Cloud Run service {settings.name} in {parent}; run `create` first.")
    import requests

    audio = contract.recording(settings.sample)
    headers = {}
    if not service.invoker_iam_disabled:
        headers["Authorization"] = f"Bearer {_identity_token(service.uri, console)}"
    console.say(f"POST {service.uri}/omni/feedback with {audio.filename} ({len(audio.data)} bytes); "
                "a cold start loads Omni first")
    started = time.monotonic()
    answer = requests.post(
        f"{service.uri}/omni/feedback", files={"audio": (audio.filename, audio.data, audio.content_type)},
        headers=headers, timeout=settings.request_timeout_s,
    )
    latency = time.monotonic() - started
    if answer.status_code != 200:
        raise DeployError(f"The service answered {answer.status_code}: {answer.text[:300]}")
    for line in contract.feedback_lines(contract.parse_json(answer.text, "service"), latency):
        console.say(line)


def delete(settings: Settings, console: Console) -> None:
    _, client, parent = _client(settings)
    name = f"{parent}/services/{settings.name}"
    if _get(client, name) is None:
        console.say(f"nothing to remove: no service {name}")
        return
    google_common.wait(client.delete_service(name=name), settings.wait_timeout_s, "deleting the service")
    console.say(f"removed service {name} (and its revisions)")


def _memory_gib(limit: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Gi|Mi)", limit or "")
    if not match:
        return 0.0
    return float(match[1]) / (1024 if match[2] == "Mi" else 1)


def status(settings: Settings, console: Console) -> None:
    _, client, parent = _client(settings)
    service = _get(client, f"{parent}/services/{settings.name}")
    if service is None:
        console.say(f"no service {settings.name} in {parent}: nothing runs, $0.00/h")
        return
    condition = service.terminal_condition
    template = service.template
    limits = template.containers[0].resources.limits if template.containers else {}
    scaling = template.scaling
    console.say(f"service {settings.name}: {condition.state.name} {condition.message}".rstrip()
                + f" at {service.uri}")
    console.say(f"  GPU {template.node_selector.accelerator or 'none'}, instances {scaling.min_instance_count}-"
                f"{scaling.max_instance_count}; idle "
                f"{'$0.00/h (scales to zero)' if scaling.min_instance_count == 0 else 'keeps instances warm'}; "
                f"{_hourly(float(limits.get('cpu', '0') or 0), _memory_gib(limits.get('memory', '')))}")


def explain(error: Exception) -> str | None:
    return google_common.explain(error, ROLE, QUOTA)
