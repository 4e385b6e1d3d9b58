"""Azure Machine Learning: a managed online endpoint (key auth) and one deployment of the worker image on a GPU VM
(Standard_NC4as_T4_v3, 1x T4 16 GB), with readiness and liveness probes whose long initial delay covers the first
load, a scoring timeout long enough for a detection, and all traffic sent to it.

The container is the worker as it is: inference_config routes `/score` (scoring), `/readyz` (readiness) and
`/healthz` (liveness) on port 8000. The image is referenced by an anonymous environment, which Azure keeps as a
free asset. Credentials come from DefaultAzureCredential (environment, managed identity, `az login`, ...).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import contract, pricing
from deploy.console import Console
from deploy.errors import DeployError, import_sdk
from deploy.rollback import rolling_back
from deploy.settings import CommonSettings, setting

PACKAGE = "azure-ai-ml azure-identity"
PORT = 8000
DEPLOYMENT = "worker"
TAGS = {"managed-by": "local-ai-stack-deploy"}
ROLE = "'AzureML Data Scientist' (or Contributor) on the workspace"
QUOTA_CODES = ("QuotaExceeded", "InsufficientQuota", "OutOfQuota", "QuotaExhausted")


@dataclass(frozen=True)
class Settings(CommonSettings):
    subscription: str = setting("", "AZURE_SUBSCRIPTION_ID", "Azure subscription id")
    resource_group: str = setting("", "AZURE_RESOURCE_GROUP", "resource group of the workspace")
    workspace: str = setting("", "AZURE_ML_WORKSPACE", "Azure Machine Learning workspace")
    instance_type: str = setting("Standard_NC4as_T4_v3", "AZURE_INSTANCE_TYPE", "VM of the deployment (1x T4)")
    instance_count: int = setting(1, "AZURE_INSTANCE_COUNT", "instances of the deployment")
    probe_initial_delay_s: int = setting(
        600, "AZURE_PROBE_INITIAL_DELAY_S", "seconds before the first readiness/liveness probe (the first load)"
    )
    request_timeout_ms: int = setting(90000, "AZURE_REQUEST_TIMEOUT_MS", "scoring request timeout (max 180000)")


SETTINGS = Settings


def _client(settings: Settings) -> Any:
    missing = [flag for flag, value in (("--subscription", settings.subscription),
                                        ("--resource-group", settings.resource_group),
                                        ("--workspace", settings.workspace)) if not value]
    if missing:
        raise DeployError(f"Azure needs {', '.join(missing)} (or AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, "
                          "AZURE_ML_WORKSPACE) to find the workspace.")
    ml = import_sdk("azure.ai.ml", PACKAGE, "Azure ML")
    identity = import_sdk("azure.identity", PACKAGE, "Azure ML")
    _quiet_sdk_progress()
    return ml.MLClient(identity.DefaultAzureCredential(), settings.subscription, settings.resource_group,
                       settings.workspace, show_progress=False)


def _quiet_sdk_progress() -> None:
    """azure-ai-ml writes its own progress lines ("Check: endpoint … exists", dots) to stderr; the tool says what
    happens itself, so only the SDK's warnings and errors stay."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("azure.ai.ml"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _entities() -> Any:
    return import_sdk("azure.ai.ml.entities", PACKAGE, "Azure ML")


def deployment_resource(settings: Settings, image: str) -> Any:
    entities = _entities()
    routes = {
        "scoring_route": {"port": PORT, "path": "/score"},
        "readiness_route": {"port": PORT, "path": "/readyz"},
        "liveness_route": {"port": PORT, "path": "/healthz"},
    }
    return entities.ManagedOnlineDeployment(
        name=DEPLOYMENT, endpoint_name=settings.name, tags=TAGS,
        environment=entities.Environment(image=image, inference_config=routes),
        environment_variables={**settings.worker_environment(), "PORT": str(PORT)},
        instance_type=settings.instance_type, instance_count=settings.instance_count,
        # readiness: /readyz is 503 until the models are loaded; 60 more tries, 10 s apart, after the delay
        readiness_probe=entities.ProbeSettings(initial_delay=settings.probe_initial_delay_s, period=10, timeout=5,
                                               failure_threshold=60, success_threshold=1),
        # liveness: /healthz answers while an inference runs; a hung process is restarted after 3 misses
        liveness_probe=entities.ProbeSettings(initial_delay=settings.probe_initial_delay_s, period=30, timeout=10,
                                              failure_threshold=3, success_threshold=1),
        request_settings=entities.OnlineRequestSettings(
            request_timeout_ms=settings.request_timeout_ms, max_concurrent_requests_per_instance=4,
        ),
    )


def _endpoint_exists(client: Any, name: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        client.online_endpoints.get(name=name)
        return True
    except ResourceNotFoundError:
        return False


def create(settings: Settings, console: Console) -> None:
    image = settings.require_image("an image the workspace can pull, e.g. myregistry.azurecr.io/worker:1")
    client = _client(settings)
    entities = _entities()
    endpoint = entities.ManagedOnlineEndpoint(name=settings.name, auth_mode="key", tags=TAGS)
    with rolling_back(console) as created:
        client.online_endpoints.begin_create_or_update(endpoint).result()
        created.add(f"online endpoint {settings.name}",
                    lambda: client.online_endpoints.begin_delete(name=settings.name).result())
        console.say(f"creating deployment {DEPLOYMENT} on {settings.instance_count}x {settings.instance_type} "
                    "(the first start downloads the checkpoints)")
        client.online_deployments.begin_create_or_update(deployment_resource(settings, image)).result()
        created.add(f"deployment {DEPLOYMENT}", lambda: client.online_deployments.begin_delete(
            name=DEPLOYMENT, endpoint_name=settings.name).result())
        endpoint.traffic = {DEPLOYMENT: 100}
        client.online_endpoints.begin_create_or_update(endpoint).result()
    cost = pricing.describe(pricing.AZURE.get(settings.instance_type), settings.instance_type,
                            settings.instance_count)
    console.say(f"endpoint {settings.name} serves (100% to {DEPLOYMENT}); it costs {cost} until `delete`")


def test(settings: Settings, console: Console) -> None:
    client = _client(settings)
    if not _endpoint_exists(client, settings.name):
        raise DeployError(f"No online endpoint {settings.name} in workspace {settings.workspace}; run `create`.")
    image = contract.document(settings.sample)
    console.say(f"POST /score to endpoint {settings.name} with {image.filename} ({len(image.data)} bytes)")
    with tempfile.TemporaryDirectory(prefix="deploy-azure-") as folder:
        request_file = Path(folder) / "request.json"
        request_file.write_text(json.dumps(contract.azure_body(image)))
        started = time.monotonic()
        answer = client.online_endpoints.invoke(endpoint_name=settings.name, request_file=str(request_file),
                                                deployment_name=DEPLOYMENT)
        latency = time.monotonic() - started
    for line in contract.detection_lines(contract.parse_json(answer, "endpoint"), latency):
        console.say(line)


def delete(settings: Settings, console: Console) -> None:
    client = _client(settings)
    if not _endpoint_exists(client, settings.name):
        console.say(f"nothing to remove: no online endpoint {settings.name} in workspace {settings.workspace}")
        return
    deployments = [deployment.name for deployment in client.online_deployments.list(endpoint_name=settings.name)]
    client.online_endpoints.begin_delete(name=settings.name).result()
    for name in deployments:
        console.say(f"removed deployment {name}")
    console.say(f"removed online endpoint {settings.name}")


def _state(value: Any) -> str:
    """A provisioning state as Azure spells it (`Succeeded`), whether the SDK gives a string or its enum."""
    return str(getattr(value, "value", value))


def status(settings: Settings, console: Console) -> None:
    client = _client(settings)
    if not _endpoint_exists(client, settings.name):
        console.say(f"no online endpoint {settings.name} in workspace {settings.workspace}: nothing runs, $0.00/h")
        return
    endpoint = client.online_endpoints.get(name=settings.name)
    console.say(f"endpoint {settings.name}: {_state(endpoint.provisioning_state)}, traffic {endpoint.traffic}")
    for deployment in client.online_deployments.list(endpoint_name=settings.name):
        count = deployment.instance_count or 1
        cost = pricing.describe(pricing.AZURE.get(deployment.instance_type), deployment.instance_type, count)
        console.say(f"  deployment {deployment.name}: {_state(deployment.provisioning_state)}, {cost}")


def explain(error: Exception) -> str | None:
    try:
        from azure.core import exceptions
    except ImportError:
        return None
    if isinstance(error, exceptions.ClientAuthenticationError):
        return ("No usable Azure credentials: run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                "AZURE_CLIENT_SECRET for a service principal (DefaultAzureCredential).")
    if isinstance(error, exceptions.HttpResponseError):
        code = getattr(error.error, "code", None) or ""
        message = getattr(error.error, "message", None) or error.message
        if error.status_code == 403 or code in ("AuthorizationFailed", "Forbidden"):
            return f"Azure denied the call ({code or 403}): {message}. The caller needs {ROLE}."
        if code in QUOTA_CODES or "quota" in str(message).lower():
            return (f"Azure quota exceeded ({code or error.status_code}): {message}. Request more "
                    "'Standard NCASv3_T4 Family vCPUs' for Azure ML, or pick another --instance-type.")
        return f"Azure refused the call ({code or error.status_code}): {message}"
    try:
        from azure.ai.ml.exceptions import MlException
    except ImportError:
        return None
    if isinstance(error, MlException):
        return f"Azure ML: {error.message}"
    return None
