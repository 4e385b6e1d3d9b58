"""`python -m deploy sagemaker …` against moto's SageMaker control plane and runtime (`mock_aws`).

moto's sagemaker-runtime answers `invoke_endpoint` from its results queue (`/moto-api/static/sagemaker/
endpoint-results`); the test wraps moto's handler so that the body boto3 actually sent goes to the real worker's
`POST /invocations` first and the worker's answer is queued as the endpoint's response.
"""

from __future__ import annotations

import json
import sys

import boto3
import pytest
import requests
from moto import mock_aws
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker.exceptions import SagemakerClientError
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from deploy import pricing
from deploy.clouds import sagemaker
from tests.deploy.cloud_support import (
    DETECTION_KEYS,
    FAKE_AWS_SECRET,
    FAKE_AWS_SESSION_TOKEN,
    SAMPLE_SIZE,
    assert_no_secret,
    assert_refused,
    forward,
    hermetic_cloud_env,
    run_cli,
)

REGION = "us-east-1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model-worker:1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-worker"
CREATE = ("sagemaker", "create", "--image", IMAGE, "--role-arn", ROLE, "--name", "forms")


@pytest.fixture
def aws(monkeypatch, tmp_path):
    hermetic_cloud_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAFAKEACCESSKEY123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_AWS_SESSION_TOKEN)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setattr(sagemaker, "POLL_S", 0)
    _accept_current_gpu_instances(monkeypatch)
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def _accept_current_gpu_instances(monkeypatch) -> None:
    """moto's endpoint-config validation lists instance types that predate the g5/g6 families; accept the ones the
    tool's price table names (real SageMaker serves them), and leave moto's check in place for every other."""
    original = sagemaker_models.FakeEndpointConfig.validate_instance_type

    def validate(self, instance_type: str) -> None:
        if instance_type not in pricing.SAGEMAKER:
            original(self, instance_type)

    monkeypatch.setattr(sagemaker_models.FakeEndpointConfig, "validate_instance_type", validate)


def _leftovers(client) -> dict[str, list]:
    return {
        "models": client.list_models()["Models"],
        "endpoint configs": client.list_endpoint_configs()["EndpointConfigs"],
        "endpoints": client.list_endpoints()["Endpoints"],
    }


@pytest.fixture
def endpoint_calls(monkeypatch, real_worker):
    """moto's invoke_endpoint, with the worker's real answer to the request's own body queued before it runs."""
    sent: list[dict] = []
    original = SageMakerRuntimeResponse.invoke_endpoint

    def invoke_through_worker(self):
        sent.append({"body": self.body, "content_type": self.headers.get("Content-Type"),
                     "accept": self.headers.get("Accept"), "path": self.path})
        answer = forward(real_worker, "/invocations", self.body.encode(), self.headers["Content-Type"])
        assert answer.status_code == 200, answer.text
        requests.post("http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results", json={
            "results": [{"Body": answer.text, "ContentType": "application/json",
                         "InvokedProductionVariant": "AllTraffic", "CustomAttributes": ""}],
        }, timeout=10)
        sent[-1]["worker_answer"] = answer.json()
        return original(self)

    monkeypatch.setattr(SageMakerRuntimeResponse, "invoke_endpoint", invoke_through_worker)
    return sent


def test_create_test_status_delete_leaves_nothing_behind(aws, endpoint_calls, capsys):
    created = run_cli(capsys, *CREATE, "--variant", "32b", "--lora-adapter", "org/qwen3-vl-32b-forms-lora")
    assert created.code == 0, created
    model = aws.describe_model(ModelName="forms-model")
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["Environment"] == {
        "ENABLED_MODELS": "detector", "VL_BASE_MODEL": "Qwen/Qwen3-VL-32B-Instruct",
        "VL_LORA_ADAPTER": "org/qwen3-vl-32b-forms-lora", "USE_4BIT": "true", "PORT": "8080",
    }
    variant = aws.describe_endpoint_config(EndpointConfigName="forms-config")["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g5.xlarge" and variant["InitialInstanceCount"] == 1
    assert variant["ModelName"] == "forms-model"
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 3600
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 3600
    endpoint = aws.describe_endpoint(EndpointName="forms")
    assert endpoint["EndpointConfigName"] == "forms-config" and endpoint["EndpointStatus"] == "InService"
    tags = aws.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
    assert {"Key": "managed-by", "Value": "local-ai-stack-deploy"} in tags
    assert "$1.41/h (1x ml.g5.xlarge, us-east-1" in created.out

    tested = run_cli(capsys, "sagemaker", "test", "--name", "forms")
    assert tested.code == 0, tested
    [call] = endpoint_calls
    assert call["path"] == "/endpoints/forms/invocations"
    assert call["content_type"] == "application/json" and call["accept"] == "application/json"
    assert set(json.loads(call["body"])) == {"inputs"}
    answer = call["worker_answer"]
    assert set(answer) >= DETECTION_KEYS and answer["image_size"] == SAMPLE_SIZE
    assert f"{answer['count']} field(s) on a 700x450 image by {answer['model']}; latency" in tested.out
    for box in answer["bboxes"]:
        assert f"pixels {box['bbox_pixel']}" in tested.out

    status = run_cli(capsys, "sagemaker", "status", "--name", "forms")
    assert status.code == 0 and "endpoint forms: InService" in status.out
    assert "model forms-model, $1.41/h (1x ml.g5.xlarge" in status.out

    deleted = run_cli(capsys, "sagemaker", "delete", "--name", "forms")
    assert deleted.code == 0, deleted
    assert deleted.out.splitlines() == [
        "removed endpoint forms", "removed endpoint configuration forms-config", "removed model forms-model",
    ]
    assert _leftovers(aws) == {"models": [], "endpoint configs": [], "endpoints": []}
    assert "nothing runs, $0.00/h" in run_cli(capsys, "sagemaker", "status", "--name", "forms").out
    for run in (created, tested, status, deleted):
        assert_no_secret(run, FAKE_AWS_SECRET, FAKE_AWS_SESSION_TOKEN)


def test_a_quota_error_at_endpoint_creation_rolls_back_the_model_and_config(aws, monkeypatch, capsys):
    def over_quota(self, **kwargs):
        raise SagemakerClientError(
            "ResourceLimitExceeded",
            "The account-level service limit 'ml.g5.xlarge for endpoint usage' is 0 Instances, with current "
            "utilization of 0 Instances and a request delta of 1 Instances.",
        )

    monkeypatch.setattr(sagemaker_models.SageMakerModelBackend, "create_endpoint", over_quota)
    run = run_cli(capsys, *CREATE)
    assert_refused(run, "quota exceeded", "ml.g5.xlarge for endpoint usage", "Service Quotas")
    assert "rolled back: removed endpoint configuration forms-config" in run.out
    assert "rolled back: removed model forms-model" in run.out
    assert _leftovers(aws) == {"models": [], "endpoint configs": [], "endpoints": []}
    assert_no_secret(run, FAKE_AWS_SECRET, FAKE_AWS_SESSION_TOKEN)


def test_an_endpoint_that_fails_to_start_is_rolled_back_with_its_reason(aws, monkeypatch, capsys):
    original = sagemaker_models.SageMakerModelBackend.describe_endpoint

    def failed(self, endpoint_name):
        described = original(self, endpoint_name)
        return {**described, "EndpointStatus": "Failed",
                "FailureReason": "The primary container did not pass the ping health check."}

    monkeypatch.setattr(sagemaker_models.SageMakerModelBackend, "describe_endpoint", failed)
    run = run_cli(capsys, *CREATE)
    assert_refused(run, "Failed", "ping health check", "/aws/sagemaker/Endpoints/forms")
    assert "rolled back: removed endpoint forms" in run.out
    assert _leftovers(aws) == {"models": [], "endpoint configs": [], "endpoints": []}


# AccessDeniedException is an error every AWS API returns, though SageMaker's model does not list it: moto warns.
@pytest.mark.filterwarnings("ignore:Exception\\(SagemakerClientError\\) with code AccessDeniedException")
def test_access_denied_is_one_line_naming_the_permissions(aws, monkeypatch, capsys):
    def denied(self, **kwargs):
        raise SagemakerClientError(
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: sagemaker:CreateModel",
        )

    monkeypatch.setattr(sagemaker_models.SageMakerModelBackend, "create_model", denied)
    run = run_cli(capsys, *CREATE)
    assert_refused(run, "AWS denied CreateModel", "sagemaker:CreateModel", "iam:PassRole")
    assert _leftovers(aws)["models"] == []


def test_prerequisites_are_refused_with_what_to_do(aws, monkeypatch, capsys):
    assert_refused(run_cli(capsys, "sagemaker", "create", "--role-arn", ROLE), "--image", "DEPLOY_IMAGE")
    assert_refused(run_cli(capsys, "sagemaker", "create", "--image", IMAGE), "--role-arn", "SAGEMAKER_ROLE_ARN")
    assert_refused(run_cli(capsys, "sagemaker", "create", "--image", "docker.io/me/worker:1", "--role-arn", ROLE),
                   "Amazon ECR")
    assert_refused(run_cli(capsys, *CREATE, "--variant", "70b"), "--variant", "8b, 32b")
    assert_refused(run_cli(capsys, "sagemaker", "test", "--sample", "/no/such/form.png"), "/no/such/form.png")
    nothing = run_cli(capsys, "sagemaker", "delete", "--name", "never-made")
    assert nothing.code == 0 and "nothing to remove: no endpoint never-made" in nothing.out


def test_missing_credentials_and_region(monkeypatch, tmp_path, capsys):
    hermetic_cloud_env(monkeypatch, tmp_path)
    assert_refused(run_cli(capsys, "sagemaker", "status"), "No AWS region", "--region")
    assert_refused(run_cli(capsys, "sagemaker", "status", "--region", REGION), "No AWS credentials", "aws configure")


def test_missing_sdk(monkeypatch, tmp_path, capsys):
    hermetic_cloud_env(monkeypatch, tmp_path)
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError
    assert_refused(run_cli(capsys, "sagemaker", "status"), "AWS SDK is not installed", "deploy/requirements.txt")
