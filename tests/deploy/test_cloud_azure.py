"""`python -m deploy azure …` through azure-ai-ml and azure-identity, answered at `requests` (azure-core's default
RequestsTransport) by a fake of Entra ID and Azure Resource Manager (tests/deploy/fake_azure.py) with ARM's
asynchronous operations. The scoring body the SDK sent is POSTed to the real worker's `POST /score`."""

from __future__ import annotations

import json
import sys

import pytest
import responses

from tests.deploy.cloud_support import (
    DETECTION_KEYS,
    FAKE_AZURE_SECRET,
    FAKE_AZURE_TOKEN,
    FAKE_ENDPOINT_KEY,
    SAMPLE_SIZE,
    assert_no_secret,
    assert_refused,
    forward,
    hermetic_cloud_env,
    run_cli,
)
from tests.deploy.fake_azure import CLIENT, GROUP, SUBSCRIPTION, TENANT, WORKSPACE, FakeAzure, scoring_uri
from tests.deploy.fake_http import Call, Recorder, local_passthrough

IMAGE = "formsregistry.azurecr.io/model-worker:1"
CREATE = ("azure", "create", "--image", IMAGE, "--name", "forms")
SECRETS = (FAKE_AZURE_SECRET, FAKE_AZURE_TOKEN, FAKE_ENDPOINT_KEY)


@pytest.fixture
def azure_env(monkeypatch, tmp_path):
    hermetic_cloud_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", FAKE_AZURE_SECRET)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", GROUP)
    monkeypatch.setenv("AZURE_ML_WORKSPACE", WORKSPACE)


@pytest.fixture
def cloud(azure_env, request):
    recorder = Recorder()
    worker = request.getfixturevalue("real_worker") if "real_worker" in request.fixturenames else None

    def score(call: Call):
        answer = forward(worker, "/score", call.body, call.headers["Content-Type"])
        return answer.status_code, answer.json()

    fake = FakeAzure(recorder, score)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.register(mock)
        local_passthrough(mock)
        yield fake


def _deployment_put(cloud: FakeAzure) -> dict:
    [put] = cloud.recorder.find("PUT", r"/onlineEndpoints/forms/deployments/worker$")
    return put.json


def test_create_test_status_delete_leaves_nothing_behind(cloud, real_worker, capsys):
    created = run_cli(capsys, *CREATE)
    assert created.code == 0, created
    endpoint_puts = cloud.recorder.find("PUT", r"/onlineEndpoints/forms$")
    assert endpoint_puts[0].json["properties"]["authMode"] == "Key"
    assert endpoint_puts[-1].json["properties"]["traffic"] == {"worker": 100}
    [environment] = cloud.recorder.find("PUT", r"/environments/CliV2AnonymousEnvironment/versions/")
    assert environment.json["properties"]["image"] == IMAGE
    assert environment.json["properties"]["inferenceConfig"] == {
        "livenessRoute": {"port": 8000, "path": "/healthz"}, "readinessRoute": {"port": 8000, "path": "/readyz"},
        "scoringRoute": {"port": 8000, "path": "/score"},
    }
    deployment = _deployment_put(cloud)
    assert deployment["sku"] == {"name": "Default", "capacity": 1}
    properties = deployment["properties"]
    assert properties["instanceType"] == "Standard_NC4as_T4_v3"
    assert properties["environmentVariables"] == {
        "ENABLED_MODELS": "detector", "VL_BASE_MODEL": "Qwen/Qwen3-VL-8B-Instruct",
        "VL_LORA_ADAPTER": "takumi123xxx/pdfme-form-field-detector-lora", "USE_4BIT": "true", "PORT": "8000",
    }
    assert properties["readinessProbe"] == {"initialDelay": "PT10M", "period": "PT10S", "timeout": "PT5S",
                                            "failureThreshold": 60, "successThreshold": 1}
    assert properties["livenessProbe"]["initialDelay"] == "PT10M"
    assert properties["requestSettings"]["requestTimeout"] == "PT1M30S"
    assert sorted(cloud.kinds()) == ["deployments", "onlineendpoints", "versions"]
    assert "$0.53/h (1x Standard_NC4as_T4_v3, eastus" in created.out

    tested = run_cli(capsys, "azure", "test", "--name", "forms")
    assert tested.code == 0, tested
    [scored] = cloud.recorder.find("POST", r"^/score$")
    assert scored.url == scoring_uri("forms")
    assert scored.headers["azureml-model-deployment"] == "worker"
    assert set(json.loads(scored.body)) == {"image_base64"}
    answer = forward(real_worker, "/score", scored.body, scored.headers["Content-Type"])
    assert answer.status_code == 200 and set(answer.json()) >= DETECTION_KEYS
    assert answer.json()["image_size"] == SAMPLE_SIZE
    assert f"field(s) on a 700x450 image by {answer.json()['model']}; latency" in tested.out

    status = run_cli(capsys, "azure", "status", "--name", "forms")
    assert status.code == 0 and "endpoint forms: Succeeded, traffic {'worker': 100}" in status.out
    assert "deployment worker: Succeeded, $0.53/h (1x Standard_NC4as_T4_v3" in status.out

    deleted = run_cli(capsys, "azure", "delete", "--name", "forms")
    assert deleted.code == 0, deleted
    assert "removed deployment worker" in deleted.out and "removed online endpoint forms" in deleted.out
    # What remains is the anonymous environment: an asset Azure keeps (free, shared by identical images).
    assert sorted(cloud.kinds()) == ["versions"]
    assert "nothing runs, $0.00/h" in run_cli(capsys, "azure", "status", "--name", "forms").out
    for run in (created, tested, status, deleted):
        assert_no_secret(run, *SECRETS)


def test_out_of_quota_rolls_back_the_deployment_and_endpoint(cloud, capsys):
    cloud.failures["PUT deployments"] = (
        "async", "OutOfQuota",
        "Not enough quota available for Standard_NC4as_T4_v3 in SubscriptionId. Current usage/limit: 0/0.",
    )
    run = run_cli(capsys, *CREATE)
    assert_refused(run, "quota exceeded", "OutOfQuota", "NCASv3_T4")
    assert "rolled back: removed online endpoint forms" in run.out
    assert sorted(cloud.kinds()) == ["versions"]
    assert_no_secret(run, *SECRETS)


def test_authorization_failed_names_the_role(cloud, capsys):
    cloud.failures["PUT onlineendpoints"] = (
        "http", 403, "AuthorizationFailed",
        f"The client '{CLIENT}' does not have authorization to perform action "
        "'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write'.",
    )
    run = run_cli(capsys, *CREATE)
    assert_refused(run, "AuthorizationFailed", "onlineEndpoints/write", "AzureML Data Scientist")
    assert cloud.recorder.resources == {}


def test_prerequisites(cloud, monkeypatch, capsys):
    assert_refused(run_cli(capsys, "azure", "create", "--name", "forms"), "--image")
    assert_refused(run_cli(capsys, "azure", "test", "--name", "never-made"), "No online endpoint never-made")
    nothing = run_cli(capsys, "azure", "delete", "--name", "never-made")
    assert nothing.code == 0 and "nothing to remove: no online endpoint never-made" in nothing.out
    monkeypatch.delenv("AZURE_ML_WORKSPACE")
    assert_refused(run_cli(capsys, "azure", "status"), "--workspace", "AZURE_ML_WORKSPACE")


def test_missing_credentials(azure_env, monkeypatch, capsys):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", "/nonexistent")  # no az, azd or pwsh to ask
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # a managed-identity probe is refused here
        run = run_cli(capsys, "azure", "status")
    assert_refused(run, "No usable Azure credentials", "az login")


def test_missing_sdk(azure_env, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "azure.ai.ml", None)
    assert_refused(run_cli(capsys, "azure", "status"), "Azure ML SDK is not installed", "azure-ai-ml")
