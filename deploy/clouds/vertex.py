"""Google Vertex AI: the worker image uploaded as a Model (predict and health routes, port 8080, its environment, a
long deployment timeout), an Endpoint, and the model deployed to it on one GPU machine (g2-standard-8 with an
NVIDIA L4 by default; n1-standard-8 with NVIDIA_TESLA_T4 also works for the 8B detector in 4-bit).

Vertex AI tells the container its routes and port in AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE and AIP_HTTP_PORT, which
the worker serves. Resources are found again by display name (--name). Credentials are Application Default
Credentials; the image must be in Artifact Registry (or gcr.io).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from deploy import contract, pricing
from deploy.clouds import google_common
from deploy.console import Console
from deploy.errors import DeployError, import_sdk
from deploy.rollback import rolling_back
from deploy.settings import CommonSettings, setting

PACKAGE = "google-cloud-aiplatform"
PORT = 8080
PREDICT_ROUTE = "/predict"
HEALTH_ROUTE = "/health"
ROLE = "roles/aiplatform.user (and roles/artifactregistry.reader for the Vertex AI service agent)"
QUOTA = "'Custom model serving <GPU> per region' (e.g. custom_model_serving_nvidia_l4_gpus)"


@dataclass(frozen=True)
class Settings(CommonSettings):
    project: str = setting("", "GOOGLE_CLOUD_PROJECT", "Google Cloud project (default: the credentials' project)")
    region: str = setting("us-central1", "VERTEX_REGION", "Vertex AI region with the GPU")
    machine_type: str = setting("g2-standard-8", "VERTEX_MACHINE_TYPE", "machine of each replica")
    accelerator: str = setting("NVIDIA_L4", "VERTEX_ACCELERATOR", "GPU type: NVIDIA_L4 or NVIDIA_TESLA_T4")
    accelerator_count: int = setting(1, "VERTEX_ACCELERATOR_COUNT", "GPUs per replica")
    deploy_timeout_s: int = setting(
        7200, "VERTEX_DEPLOY_TIMEOUT_S", "container deployment timeout: start until healthy (max 7200)"
    )


SETTINGS = Settings


@dataclass(frozen=True)
class _Clients:
    sdk: Any
    models: Any
    endpoints: Any
    predictions: Any
    parent: str


def _clients(settings: Settings) -> _Clients:
    sdk = import_sdk("google.cloud.aiplatform_v1", PACKAGE, "Vertex AI")
    creds, project = google_common.credentials(settings.project, PACKAGE, "Vertex AI")
    kwargs = {
        "credentials": creds, "transport": "rest",
        "client_options": {"api_endpoint": f"{settings.region}-aiplatform.googleapis.com"},
    }
    return _Clients(
        sdk, sdk.ModelServiceClient(**kwargs), sdk.EndpointServiceClient(**kwargs),
        sdk.PredictionServiceClient(**kwargs), f"projects/{project}/locations/{settings.region}",
    )


def model_resource(sdk: Any, settings: Settings, image: str) -> Any:
    env = [sdk.EnvVar(name=key, value=value) for key, value in settings.worker_environment().items()]
    probe = sdk.Probe(
        http_get=sdk.Probe.HttpGetAction(path=HEALTH_ROUTE, port=PORT), period_seconds=30, timeout_seconds=10,
        failure_threshold=max(1, settings.deploy_timeout_s // 30),
    )
    return sdk.Model(
        display_name=settings.name, labels=google_common.LABELS,
        container_spec=sdk.ModelContainerSpec(
            image_uri=image, env=env, ports=[sdk.Port(container_port=PORT)],
            predict_route=PREDICT_ROUTE, health_route=HEALTH_ROUTE, startup_probe=probe,
            deployment_timeout=google_common.duration(settings.deploy_timeout_s),
        ),
    )


def deployed_model(sdk: Any, settings: Settings, model_name: str) -> Any:
    if settings.accelerator not in sdk.AcceleratorType.__members__:
        raise DeployError(f"--accelerator {settings.accelerator!r} is unknown; use NVIDIA_L4 or NVIDIA_TESLA_T4.")
    return sdk.DeployedModel(
        model=model_name, display_name=settings.name,
        dedicated_resources=sdk.DedicatedResources(
            machine_spec=sdk.MachineSpec(
                machine_type=settings.machine_type, accelerator_type=sdk.AcceleratorType[settings.accelerator],
                accelerator_count=settings.accelerator_count,
            ),
            min_replica_count=1, max_replica_count=1,
        ),
    )


def _named(clients: _Clients, settings: Settings) -> dict[str, Any]:
    return {"parent": clients.parent, "filter": f'display_name="{settings.name}"'}


def _endpoints(clients: _Clients, settings: Settings) -> list[Any]:
    return list(clients.endpoints.list_endpoints(request=_named(clients, settings)))


def _models(clients: _Clients, settings: Settings) -> list[Any]:
    return list(clients.models.list_models(request=_named(clients, settings)))


def _remove_endpoint(clients: _Clients, endpoint_name: str, timeout_s: int, console: Console) -> None:
    """Undeploy every model of the endpoint (an endpoint with deployed models cannot be deleted), then delete it."""
    endpoint = clients.endpoints.get_endpoint(name=endpoint_name)
    for deployed in endpoint.deployed_models:
        google_common.wait(clients.endpoints.undeploy_model(endpoint=endpoint_name, deployed_model_id=deployed.id),
                           timeout_s, f"undeploying {deployed.id}")
        console.say(f"undeployed model {deployed.id} from endpoint {endpoint.display_name}")
    google_common.wait(clients.endpoints.delete_endpoint(name=endpoint_name), timeout_s, "deleting the endpoint")


def create(settings: Settings, console: Console) -> None:
    image = settings.require_image("an Artifact Registry image, e.g. us-central1-docker.pkg.dev/PROJECT/REPO/worker:1")
    if "-docker.pkg.dev/" not in image and "gcr.io/" not in image:
        raise DeployError(f"Vertex AI pulls from Artifact Registry or gcr.io; push {image} there and pass that URI.")
    clients = _clients(settings)
    wait_s = settings.wait_timeout_s
    with rolling_back(console) as created:
        uploaded = google_common.wait(
            clients.models.upload_model(parent=clients.parent, model=model_resource(clients.sdk, settings, image)),
            wait_s, "uploading the model",
        )
        model_name = uploaded.model
        created.add(f"model {model_name}", lambda: google_common.wait(
            clients.models.delete_model(name=model_name), wait_s, "deleting the model"))
        endpoint = google_common.wait(
            clients.endpoints.create_endpoint(
                parent=clients.parent,
                endpoint=clients.sdk.Endpoint(display_name=settings.name, labels=google_common.LABELS),
            ),
            wait_s, "creating the endpoint",
        )
        created.add(f"endpoint {endpoint.name}",
                    lambda: _remove_endpoint(clients, endpoint.name, wait_s, console))
        console.say(f"deploying to {settings.machine_type} + {settings.accelerator_count}x {settings.accelerator} "
                    "(the first start downloads the checkpoints)")
        google_common.wait(
            clients.endpoints.deploy_model(
                endpoint=endpoint.name, deployed_model=deployed_model(clients.sdk, settings, model_name),
                traffic_split={"0": 100},
            ),
            max(wait_s, settings.deploy_timeout_s), "deploying the model",
        )
    cost = _cost(settings.machine_type, settings.accelerator, settings.accelerator_count)
    console.say(f"endpoint {endpoint.name} serves; it costs {cost} until `delete`")


def _cost(machine_type: str, accelerator: str, count: int) -> str:
    machine = pricing.VERTEX_MACHINES.get(machine_type)
    gpu = pricing.VERTEX_ACCELERATORS.get(accelerator)
    if machine is None or gpu is None:
        return pricing.describe(None, f"{machine_type} + {accelerator}")
    total = pricing.Price(machine.usd_per_hour + count * gpu.usd_per_hour, machine.region, machine.what)
    return pricing.describe(total, f"{machine_type} + {count}x {accelerator}")


def _the_endpoint(clients: _Clients, settings: Settings) -> Any:
    found = _endpoints(clients, settings)
    if not found:
        raise DeployError(f"No Vertex AI endpoint named {settings.name} in {clients.parent}; run `create` first.")
    return found[0]


def test(settings: Settings, console: Console) -> None:
    clients = _clients(settings)
    from google.protobuf import json_format, struct_pb2

    endpoint = _the_endpoint(clients, settings)
    image = contract.document(settings.sample)
    instances = [json_format.ParseDict(item, struct_pb2.Value()) for item in contract.vertex_instances(image)]
    console.say(f"predict on endpoint {endpoint.name} with {image.filename} ({len(image.data)} bytes)")
    started = time.monotonic()
    answer = clients.predictions.predict(endpoint=endpoint.name, instances=instances)
    latency = time.monotonic() - started
    predictions = json.loads(type(answer).to_json(answer)).get("predictions") or []
    if not predictions:
        raise DeployError("The endpoint answered with no predictions; check the endpoint's logs.")
    for line in contract.detection_lines(predictions[0], latency):
        console.say(line)


def delete(settings: Settings, console: Console) -> None:
    clients = _clients(settings)
    endpoints = _endpoints(clients, settings)
    models = _models(clients, settings)
    if not endpoints and not models:
        console.say(f"nothing to remove: no endpoint or model named {settings.name} in {clients.parent}")
        return
    for endpoint in endpoints:
        _remove_endpoint(clients, endpoint.name, settings.wait_timeout_s, console)
        console.say(f"removed endpoint {endpoint.name}")
    for model in models:
        google_common.wait(clients.models.delete_model(name=model.name), settings.wait_timeout_s, "deleting a model")
        console.say(f"removed model {model.name}")


def status(settings: Settings, console: Console) -> None:
    clients = _clients(settings)
    endpoints = _endpoints(clients, settings)
    if not endpoints:
        console.say(f"no endpoint {settings.name} in {clients.parent}: nothing runs, $0.00/h")
    for endpoint in endpoints:
        console.say(f"endpoint {endpoint.name}: {len(endpoint.deployed_models)} deployed model(s)")
        for deployed in endpoint.deployed_models:
            spec = deployed.dedicated_resources.machine_spec
            replicas = max(1, deployed.dedicated_resources.min_replica_count)
            cost = _cost(spec.machine_type, spec.accelerator_type.name, spec.accelerator_count)
            console.say(f"  {deployed.id} ({deployed.model}): {replicas} replica(s) of {cost}")
    for model in _models(clients, settings):
        console.say(f"model {model.name} (costs nothing while not deployed)")


def explain(error: Exception) -> str | None:
    return google_common.explain(error, ROLE, QUOTA)
