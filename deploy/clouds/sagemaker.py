"""Amazon SageMaker: a model (the worker image and its environment), an endpoint configuration (one GPU instance,
long download and start-up health-check timeouts for a ~30 GB first load) and a real-time endpoint.

Names derive from --name: `<name>-model`, `<name>-config`, endpoint `<name>`; nothing is kept on disk. The image must
be in Amazon ECR; SageMaker starts it as `docker run <image> serve` and sends traffic to port 8080 (`PORT=8080`).
Credentials, region and profile come from boto3's standard chain (environment, ~/.aws, SSO, instance role).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from deploy import contract, pricing
from deploy.console import Console
from deploy.errors import DeployError, import_sdk
from deploy.rollback import rolling_back
from deploy.settings import CommonSettings, setting

SDK = "boto3"
TAGS = [{"Key": "managed-by", "Value": "local-ai-stack-deploy"}]
POLL_S = 30
_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


@dataclass(frozen=True)
class Settings(CommonSettings):
    region: str = setting("", "AWS_REGION", "AWS region (default: the SDK's configured region)")
    role_arn: str = setting("", "SAGEMAKER_ROLE_ARN", "execution role SageMaker assumes (ECR pull, CloudWatch logs)")
    instance_type: str = setting("ml.g5.xlarge", "SAGEMAKER_INSTANCE_TYPE", "endpoint instance (1x A10G 24 GB)")
    instance_count: int = setting(1, "SAGEMAKER_INSTANCE_COUNT", "instances behind the endpoint")
    download_timeout_s: int = setting(
        3600, "SAGEMAKER_DOWNLOAD_TIMEOUT_S", "ModelDataDownloadTimeoutInSeconds (60-3600)"
    )
    startup_timeout_s: int = setting(
        3600, "SAGEMAKER_STARTUP_TIMEOUT_S", "ContainerStartupHealthCheckTimeoutInSeconds, /ping until 200 (60-3600)"
    )

    @property
    def model_name(self) -> str:
        return f"{self.name}-model"

    @property
    def config_name(self) -> str:
        return f"{self.name}-config"


SETTINGS = Settings


def _session(settings: Settings) -> Any:
    boto3 = import_sdk("boto3", "boto3", "AWS")
    session = boto3.session.Session(region_name=settings.region or None)
    if not session.region_name:
        raise DeployError("No AWS region: pass --region, set AWS_REGION, or run `aws configure`.")
    if session.get_credentials() is None:
        raise DeployError(
            "No AWS credentials found: run `aws configure` or `aws sso login` (then set AWS_PROFILE), "
            "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
        )
    return session


def container_environment(settings: Settings) -> dict[str, str]:
    return {**settings.worker_environment(), "PORT": "8080"}


def production_variant(settings: Settings) -> dict[str, Any]:
    return {
        "VariantName": "AllTraffic",
        "ModelName": settings.model_name,
        "InstanceType": settings.instance_type,
        "InitialInstanceCount": settings.instance_count,
        "ModelDataDownloadTimeoutInSeconds": settings.download_timeout_s,
        "ContainerStartupHealthCheckTimeoutInSeconds": settings.startup_timeout_s,
    }


def _wait_in_service(client: Any, name: str, timeout_s: int, console: Console) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        described = client.describe_endpoint(EndpointName=name)
        state = described["EndpointStatus"]
        if state == "InService":
            return
        if state in ("Failed", "OutOfService"):
            raise DeployError(
                f"Endpoint {name} is {state}: {described.get('FailureReason', 'no reason given')}. "
                f"Its container log is CloudWatch group /aws/sagemaker/Endpoints/{name}."
            )
        if time.monotonic() > deadline:
            raise DeployError(f"Endpoint {name} was still {state} after {timeout_s} s; raise --wait-timeout-s.")
        console.say(f"endpoint {name}: {state}")
        time.sleep(POLL_S)


def create(settings: Settings, console: Console) -> None:
    image = settings.require_image("an Amazon ECR image, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:1")
    if not _ECR_IMAGE.match(image):
        raise DeployError(f"SageMaker pulls only from Amazon ECR; push {image} to ECR and pass that URI as --image.")
    if not settings.role_arn:
        raise DeployError(
            "No execution role: pass --role-arn (or set SAGEMAKER_ROLE_ARN) with a role SageMaker can assume "
            "(trust sagemaker.amazonaws.com; ECR pull and CloudWatch Logs; see deploy/README.md)."
        )
    client = _session(settings).client("sagemaker")
    with rolling_back(console) as created:
        client.create_model(
            ModelName=settings.model_name,
            ExecutionRoleArn=settings.role_arn,
            PrimaryContainer={"Image": image, "Mode": "SingleModel", "Environment": container_environment(settings)},
            Tags=TAGS,
        )
        created.add(f"model {settings.model_name}", lambda: client.delete_model(ModelName=settings.model_name))
        client.create_endpoint_config(
            EndpointConfigName=settings.config_name, ProductionVariants=[production_variant(settings)], Tags=TAGS
        )
        created.add(
            f"endpoint configuration {settings.config_name}",
            lambda: client.delete_endpoint_config(EndpointConfigName=settings.config_name),
        )
        client.create_endpoint(EndpointName=settings.name, EndpointConfigName=settings.config_name, Tags=TAGS)
        created.add(f"endpoint {settings.name}", lambda: client.delete_endpoint(EndpointName=settings.name))
        console.say(f"waiting for endpoint {settings.name} (the first start downloads the checkpoints)")
        _wait_in_service(client, settings.name, settings.wait_timeout_s, console)
    cost = pricing.describe(pricing.SAGEMAKER.get(settings.instance_type), settings.instance_type,
                            settings.instance_count)
    console.say(f"endpoint {settings.name} is InService; it costs {cost} until `delete`")


def test(settings: Settings, console: Console) -> None:
    runtime = _session(settings).client("sagemaker-runtime")
    image = contract.document(settings.sample)
    console.say(f"POST /invocations to endpoint {settings.name} with {image.filename} ({len(image.data)} bytes)")
    started = time.monotonic()
    answer = runtime.invoke_endpoint(
        EndpointName=settings.name, ContentType="application/json", Accept="application/json",
        Body=contract.sagemaker_body(image),
    )
    body = contract.parse_json(answer["Body"].read(), "endpoint")
    for line in contract.detection_lines(body, time.monotonic() - started):
        console.say(line)


def _not_found(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    message = str(response.get("Error", {}).get("Message", ""))
    return response.get("Error", {}).get("Code") == "ValidationException" and "not find" in message.lower()


def _attached(client: Any, settings: Settings) -> tuple[str, list[str]]:
    """The endpoint's configuration and that configuration's models (the derived names when they are gone)."""
    config, models = settings.config_name, [settings.model_name]
    try:
        config = client.describe_endpoint(EndpointName=settings.name)["EndpointConfigName"]
    except Exception as error:
        if not _not_found(error):
            raise
    try:
        variants = client.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
        models = [variant["ModelName"] for variant in variants]
    except Exception as error:
        if not _not_found(error):
            raise
    return config, models


def delete(settings: Settings, console: Console) -> None:
    client = _session(settings).client("sagemaker")
    config, models = _attached(client, settings)
    steps = [
        (f"endpoint {settings.name}", lambda: client.delete_endpoint(EndpointName=settings.name)),
        (f"endpoint configuration {config}", lambda: client.delete_endpoint_config(EndpointConfigName=config)),
        *[(f"model {model}", lambda model=model: client.delete_model(ModelName=model)) for model in models],
    ]
    for what, remove in steps:
        try:
            remove()
            console.say(f"removed {what}")
        except Exception as error:
            if not _not_found(error):
                raise
            console.say(f"nothing to remove: no {what}")


def status(settings: Settings, console: Console) -> None:
    client = _session(settings).client("sagemaker")
    try:
        endpoint = client.describe_endpoint(EndpointName=settings.name)
    except Exception as error:
        if not _not_found(error):
            raise
        console.say(f"no endpoint {settings.name} in {client.meta.region_name}: nothing runs, $0.00/h")
        return
    variants = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
    running = {item["VariantName"]: item.get("CurrentInstanceCount") for item in endpoint.get("ProductionVariants", [])}
    console.say(f"endpoint {settings.name}: {endpoint['EndpointStatus']} ({client.meta.region_name})")
    for variant in variants:
        count = running.get(variant["VariantName"]) or variant.get("InitialInstanceCount", 1)
        price = pricing.SAGEMAKER.get(variant["InstanceType"])
        console.say(f"  variant {variant['VariantName']}: model {variant['ModelName']}, "
                    f"{pricing.describe(price, variant['InstanceType'], count)}")


def explain(error: Exception) -> str | None:
    try:
        from botocore import exceptions
    except ImportError:
        return None
    if isinstance(error, (exceptions.NoCredentialsError, exceptions.PartialCredentialsError)):
        return f"AWS credentials are missing or incomplete ({error}); run `aws configure` or `aws sso login`."
    if isinstance(error, exceptions.NoRegionError):
        return "No AWS region: pass --region or set AWS_REGION."
    if isinstance(error, exceptions.EndpointConnectionError):
        return f"Cannot reach AWS ({error}); check the network and the region."
    if not isinstance(error, exceptions.ClientError):
        return None
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", str(error))
    operation = getattr(error, "operation_name", "the call")
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return (f"AWS denied {operation}: {message}. The caller needs the SageMaker permissions and "
                "iam:PassRole on the execution role listed in deploy/README.md.")
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException",
                "InvalidSignatureException"):
        return f"AWS rejected the credentials ({code}): refresh them (`aws sso login`) or check AWS_PROFILE."
    if code == "ResourceLimitExceeded":
        return (f"SageMaker quota exceeded in {operation}: {message}. Request more '<instance> for endpoint "
                "usage' in Service Quotas, or pick another --instance-type.")
    if code == "ModelError":
        return (f"The container answered with an error: {message}. "
                "See its log in CloudWatch group /aws/sagemaker/Endpoints/<name>.")
    return f"AWS refused {operation} ({code}): {message}"
