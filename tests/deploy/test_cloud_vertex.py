"""`python -m deploy vertex …` through google-cloud-aiplatform's REST transport, answered at `requests` by a fake of
Vertex AI's v1 API (tests/deploy/fake_google.py) with the real services' shapes: OAuth tokens for a service account,
long-running operations, errors. The predict body the SDK sent is POSTed to the real worker's Vertex AI route."""

from __future__ import annotations

import json
import sys

import pytest
import responses
from google.cloud import aiplatform_v1

from deploy.clouds import vertex
from tests.deploy.cloud_support import (
    DETECTION_KEYS,
    FAKE_GOOGLE_TOKEN,
    SAMPLE_SIZE,
    assert_no_secret,
    assert_refused,
    forward,
    hermetic_cloud_env,
    run_cli,
)
from tests.deploy.fake_google import PROJECT, FakeVertex, OAuth, bearer_tokens, write_service_account_file
from tests.deploy.fake_http import Recorder, local_passthrough

IMAGE = "us-central1-docker.pkg.dev/forms-project/worker/model-worker:1"
CREATE = ("vertex", "create", "--image", IMAGE, "--name", "forms")


@pytest.fixture
def google_env(monkeypatch, tmp_path):
    hermetic_cloud_env(monkeypatch, tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(write_service_account_file(tmp_path)))


@pytest.fixture
def cloud(google_env, request):
    """The fake Vertex AI; its predict answers with the real worker when the test asks for `real_worker`."""
    recorder = Recorder()
    worker = request.getfixturevalue("real_worker") if "real_worker" in request.fixturenames else None

    def predict(body: bytes):
        answer = forward(worker, vertex.PREDICT_ROUTE, body, "application/json")
        return answer.status_code, answer.json()

    fake = FakeVertex(recorder, predict)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        OAuth(recorder).register(mock)
        fake.register(mock)
        local_passthrough(mock)
        yield fake


def test_create_test_status_delete_leaves_nothing_behind(cloud, real_worker, capsys):
    created = run_cli(capsys, *CREATE)
    assert created.code == 0, created
    [upload] = cloud.recorder.find("POST", r"/models:upload$")
    assert upload.path == f"/v1/projects/{PROJECT}/locations/us-central1/models:upload"
    spec = upload.json["model"]["containerSpec"]
    assert spec["imageUri"] == IMAGE and spec["ports"] == [{"containerPort": 8080}]
    assert (spec["predictRoute"], spec["healthRoute"]) == ("/predict", "/health")
    assert spec["deploymentTimeout"] == "7200s"
    assert spec["startupProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert {e["name"]: e["value"] for e in spec["env"]} == {
        "ENABLED_MODELS": "detector", "VL_BASE_MODEL": "Qwen/Qwen3-VL-8B-Instruct",
        "VL_LORA_ADAPTER": "takumi123xxx/pdfme-form-field-detector-lora", "USE_4BIT": "true",
    }
    assert upload.json["model"]["labels"] == {"managed-by": "local-ai-stack-deploy"}
    [deploy] = cloud.recorder.find("POST", r":deployModel$")
    resources = deploy.json["deployedModel"]["dedicatedResources"]
    machine = resources["machineSpec"]
    assert machine["machineType"] == "g2-standard-8" and machine["acceleratorCount"] == 1
    assert aiplatform_v1.AcceleratorType(machine["acceleratorType"]).name == "NVIDIA_L4"
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (1, 1)
    assert deploy.json["trafficSplit"] == {"0": 100}
    assert len(cloud.of_kind("endpoints")) == 1 and len(cloud.of_kind("models")) == 1
    assert "$0.98/h (1x g2-standard-8 + 1x NVIDIA_L4, us-central1" in created.out

    tested = run_cli(capsys, "vertex", "test", "--name", "forms")
    assert tested.code == 0, tested
    [predict] = cloud.recorder.find("POST", r":predict$")
    assert set(predict.json) == {"instances"} and set(predict.json["instances"][0]) == {"image_base64"}
    worker_answer = forward(real_worker, vertex.PREDICT_ROUTE, predict.body, "application/json")
    assert worker_answer.status_code == 200
    [prediction] = worker_answer.json()["predictions"]
    assert set(prediction) >= DETECTION_KEYS and prediction["image_size"] == SAMPLE_SIZE
    assert f"field(s) on a 700x450 image by {prediction['model']}; latency" in tested.out

    status = run_cli(capsys, "vertex", "status", "--name", "forms")
    assert status.code == 0 and "1 deployed model(s)" in status.out
    assert "1 replica(s) of $0.98/h" in status.out

    deleted = run_cli(capsys, "vertex", "delete", "--name", "forms")
    assert deleted.code == 0, deleted
    lines = deleted.out.splitlines()
    assert lines[0].startswith("undeployed model ") and lines[1].startswith("removed endpoint projects/")
    assert lines[2].startswith("removed model projects/")
    assert cloud.recorder.resources == {}
    assert "nothing runs, $0.00/h" in run_cli(capsys, "vertex", "status", "--name", "forms").out
    for run in (created, tested, status, deleted):
        assert_no_secret(run, FAKE_GOOGLE_TOKEN, *bearer_tokens(cloud.recorder))


def test_t4_and_the_32b_variant(cloud, capsys):
    created = run_cli(capsys, *CREATE, "--machine-type", "n1-standard-8", "--accelerator", "NVIDIA_TESLA_T4",
                      "--variant", "32b", "--use-4bit", "true")
    assert created.code == 0, created
    [upload] = cloud.recorder.find("POST", r"/models:upload$")
    env = {e["name"]: e.get("value", "") for e in upload.json["model"]["containerSpec"]["env"]}
    # `none`, not "": Google's request format drops empty values, and the worker would then load its default LoRA.
    assert env["VL_BASE_MODEL"] == "Qwen/Qwen3-VL-32B-Instruct" and env["VL_LORA_ADAPTER"] == "none"
    [deploy] = cloud.recorder.find("POST", r":deployModel$")
    machine = deploy.json["deployedModel"]["dedicatedResources"]["machineSpec"]
    assert aiplatform_v1.AcceleratorType(machine["acceleratorType"]).name == "NVIDIA_TESLA_T4"
    assert "$0.84/h (1x n1-standard-8 + 1x NVIDIA_TESLA_T4" in created.out


def test_a_quota_error_while_deploying_rolls_back_the_endpoint_and_model(cloud, capsys):
    cloud.operation_failures["deployModel"] = (
        "RESOURCE_EXHAUSTED",
        "The following quota metrics exceed quota limits: "
        "aiplatform.googleapis.com/custom_model_serving_nvidia_l4_gpus",
    )
    run = run_cli(capsys, *CREATE)
    assert_refused(run, "Quota exceeded", "custom_model_serving_nvidia_l4_gpus", "Quotas")
    assert "rolled back: removed endpoint projects/" in run.out and "rolled back: removed model projects/" in run.out
    assert cloud.recorder.resources == {}
    assert_no_secret(run, FAKE_GOOGLE_TOKEN, *bearer_tokens(cloud.recorder))


def test_permission_denied_names_the_role(cloud, capsys):
    cloud.http_failures["upload"] = ("PERMISSION_DENIED", "Permission 'aiplatform.models.upload' denied on resource")
    run = run_cli(capsys, *CREATE)
    assert_refused(run, "aiplatform.models.upload", "roles/aiplatform.user")
    assert cloud.recorder.resources == {}


def test_prerequisites(cloud, capsys):
    assert_refused(run_cli(capsys, "vertex", "create", "--image", "docker.io/me/worker:1"), "Artifact Registry")
    assert_refused(run_cli(capsys, *CREATE, "--accelerator", "NVIDIA_K9000"), "--accelerator", "NVIDIA_L4")
    assert_refused(run_cli(capsys, "vertex", "test", "--name", "never-made"), "No Vertex AI endpoint", "create")
    nothing = run_cli(capsys, "vertex", "delete", "--name", "never-made")
    assert nothing.code == 0 and "nothing to remove" in nothing.out


def test_missing_credentials(monkeypatch, tmp_path, capsys):
    hermetic_cloud_env(monkeypatch, tmp_path)
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # nothing may leave: a probe would fail here
        run = run_cli(capsys, "vertex", "status")
    assert_refused(run, "No Google Cloud credentials", "gcloud auth application-default login")


def test_missing_project(monkeypatch, tmp_path, capsys):
    hermetic_cloud_env(monkeypatch, tmp_path)
    info = json.loads(write_service_account_file(tmp_path).read_text())
    del info["project_id"]
    (tmp_path / "no-project.json").write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-project.json"))
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        assert_refused(run_cli(capsys, "vertex", "status"), "--project", "GOOGLE_CLOUD_PROJECT")


def test_missing_sdk(google_env, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "google.cloud.aiplatform_v1", None)
    assert_refused(run_cli(capsys, "vertex", "status"), "Vertex AI SDK is not installed", "google-cloud-aiplatform")
