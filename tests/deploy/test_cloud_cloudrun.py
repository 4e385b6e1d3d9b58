"""`python -m deploy cloudrun …` through google-cloud-run's REST transport, answered at `requests` by a fake of the
Cloud Run Admin API v2 (tests/deploy/fake_google.py). `test` calls the service URL with an ID token minted from the
service account; the multipart body it sent is POSTed to the real worker's `/omni/feedback`."""

from __future__ import annotations

import sys

import pytest
import responses

from tests.deploy.cloud_support import (
    FAKE_GOOGLE_TOKEN,
    FEEDBACK_KEYS,
    assert_no_secret,
    assert_refused,
    forward,
    hermetic_cloud_env,
    run_cli,
)
from tests.deploy.fake_google import PROJECT, FakeCloudRun, OAuth, bearer_tokens, write_service_account_file
from tests.deploy.fake_http import Call, Recorder, local_passthrough

IMAGE = "us-central1-docker.pkg.dev/forms-project/worker/model-worker:1"
SERVICE = f"projects/{PROJECT}/locations/us-central1/services/omni-feedback"


@pytest.fixture
def cloud(monkeypatch, tmp_path, request):
    hermetic_cloud_env(monkeypatch, tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(write_service_account_file(tmp_path)))
    recorder = Recorder()
    oauth = OAuth(recorder)
    worker = request.getfixturevalue("real_worker") if "real_worker" in request.fixturenames else None

    def feedback(call: Call):
        answer = forward(worker, "/omni/feedback", call.body, call.headers["Content-Type"])
        return answer.status_code, answer.json()

    fake = FakeCloudRun(recorder, oauth, feedback)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        oauth.register(mock)
        fake.register(mock)
        local_passthrough(mock)
        yield fake


def _secrets(cloud: FakeCloudRun) -> tuple[str, ...]:
    return (FAKE_GOOGLE_TOKEN, *bearer_tokens(cloud.recorder), *cloud.oauth.id_tokens)


def test_create_test_status_delete_leaves_nothing_behind(cloud, real_worker, capsys):
    created = run_cli(capsys, "cloudrun", "create", "--image", IMAGE, "--hf-cache-bucket", "forms-hf-cache")
    assert created.code == 0, created
    [create] = cloud.recorder.find("POST", r"/services$")
    assert create.path == f"/v2/projects/{PROJECT}/locations/us-central1/services"
    assert create.query["serviceId"] == ["omni-feedback"]
    template = create.json["template"]
    assert template["nodeSelector"] == {"accelerator": "nvidia-l4"} and template["gpuZonalRedundancyDisabled"]
    assert template["scaling"] == {"maxInstanceCount": 1}  # minInstanceCount 0 is the JSON default, so omitted
    assert template["timeout"] == "900s" and template["maxInstanceRequestConcurrency"] == 4
    [container] = template["containers"]
    assert container["image"] == IMAGE and container["ports"] == [{"containerPort": 8080}]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["startupCpuBoost"] is True
    assert container["startupProbe"] == {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 10,
                                         "timeoutSeconds": 5, "failureThreshold": 120}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    env = {item["name"]: item.get("value", "") for item in container["env"]}
    assert env["ENABLED_MODELS"] == "omni" and env["PORT"] == "8080"
    assert env["HF_HOME"] == "/cache/huggingface"
    assert template["volumes"] == [{"name": "hf-cache", "gcs": {"bucket": "forms-hf-cache"}}]
    assert container["volumeMounts"] == [{"name": "hf-cache", "mountPath": "/cache/huggingface"}]
    assert "invokerIamDisabled" not in create.json  # authenticated callers only
    assert f"serves at {FakeCloudRun.uri('omni-feedback')}" in created.out
    assert "$1.42/h per running instance" in created.out and "$0.00/h while idle" in created.out

    tested = run_cli(capsys, "cloudrun", "test")
    assert tested.code == 0, tested
    [sent] = cloud.recorder.find("POST", r"^/omni/feedback$")
    assert sent.url == FakeCloudRun.uri("omni-feedback") + "/omni/feedback"
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert sent.headers["Authorization"] == f"Bearer {cloud.oauth.id_tokens[-1]}"
    answer = forward(real_worker, "/omni/feedback", sent.body, sent.headers["Content-Type"])
    assert answer.status_code == 200 and set(answer.json()) >= FEEDBACK_KEYS
    assert f"feedback by {answer.json()['model']} on " in tested.out and "; latency " in tested.out

    status = run_cli(capsys, "cloudrun", "status")
    assert status.code == 0 and "service omni-feedback: CONDITION_SUCCEEDED" in status.out
    assert "GPU nvidia-l4, instances 0-1; idle $0.00/h (scales to zero); $1.42/h per running instance" in status.out

    deleted = run_cli(capsys, "cloudrun", "delete")
    assert deleted.code == 0 and deleted.out.strip() == f"removed service {SERVICE} (and its revisions)"
    assert cloud.recorder.resources == {}
    assert "nothing runs, $0.00/h" in run_cli(capsys, "cloudrun", "status").out
    for run in (created, tested, status, deleted):
        assert_no_secret(run, *_secrets(cloud))


def test_public_service_is_called_without_a_token(cloud, real_worker, capsys):
    assert run_cli(capsys, "cloudrun", "create", "--image", IMAGE, "--allow-unauthenticated", "true",
                   "--min-instances", "1").code == 0
    [create] = cloud.recorder.find("POST", r"/services$")
    assert create.json["invokerIamDisabled"] is True and create.json["template"]["scaling"]["minInstanceCount"] == 1
    tested = run_cli(capsys, "cloudrun", "test")
    assert tested.code == 0, tested
    [sent] = cloud.recorder.find("POST", r"^/omni/feedback$")
    assert "Authorization" not in sent.headers and cloud.oauth.id_tokens == []


def test_a_gpu_quota_error_rolls_back_the_service(cloud, capsys):
    cloud.operation_failures["create"] = (
        "RESOURCE_EXHAUSTED", "Quota exceeded for total allowable count of GPUs per project per region.")
    run = run_cli(capsys, "cloudrun", "create", "--image", IMAGE)
    assert_refused(run, "Quota exceeded", "GPUs per project per region", "Nvidia L4")
    assert f"rolled back: removed service {SERVICE}" in run.out
    assert cloud.recorder.resources == {}
    assert_no_secret(run, *_secrets(cloud))


def test_permission_denied_names_the_roles(cloud, capsys):
    cloud.http_failures["POST"] = ("PERMISSION_DENIED", "Permission 'run.services.create' denied on resource")
    run = run_cli(capsys, "cloudrun", "create", "--image", IMAGE)
    assert_refused(run, "run.services.create", "roles/run.developer")


def test_prerequisites(cloud, capsys):
    assert_refused(run_cli(capsys, "cloudrun", "create"), "--image")
    assert_refused(run_cli(capsys, "cloudrun", "create", "--image", IMAGE, "--cpu", "2"), "--cpu 4")
    assert_refused(run_cli(capsys, "cloudrun", "test"), "No Cloud Run service omni-feedback", "create")
    nothing = run_cli(capsys, "cloudrun", "delete")
    assert nothing.code == 0 and f"nothing to remove: no service {SERVICE}" in nothing.out
    assert cloud.recorder.resources == {}


def test_missing_credentials_and_sdk(monkeypatch, tmp_path, capsys):
    hermetic_cloud_env(monkeypatch, tmp_path)
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        assert_refused(run_cli(capsys, "cloudrun", "status"), "No Google Cloud credentials")
    monkeypatch.setitem(sys.modules, "google.cloud.run_v2", None)
    assert_refused(run_cli(capsys, "cloudrun", "status"), "Cloud Run SDK is not installed", "google-cloud-run")

