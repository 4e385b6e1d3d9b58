"""Helpers of the cloud deploy tests: run the command line in-process, check its failures are one line, keep every
SDK's credential chain on this machine (no metadata-server probe ever leaves it), and forward a request the tool sent
to the real worker."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass

import pytest
import requests

from deploy.cli import main
from tests.support.procs import Service

DETECTION_KEYS = {"bboxes", "count", "raw_output", "image_size", "model", "timings"}
FEEDBACK_KEYS = {"feedback", "transcript", "audio", "model", "duration_s", "timings"}
SAMPLE_SIZE = {"width": 700, "height": 450}  # deploy/samples/form.png

# Credentials the tests hand the SDKs: none of them may ever be printed.
FAKE_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKESECRETKEY"
FAKE_AWS_SESSION_TOKEN = "FwoGZXIvYXdzEFAKESESSIONTOKEN0123456789"
FAKE_GOOGLE_TOKEN = "ya29.FAKE-ACCESS-TOKEN-never-printed-0123456789"
FAKE_AZURE_SECRET = "azure~FAKE-client-secret-never-printed-42"
FAKE_AZURE_TOKEN = "eyFAKE.azure-access-token.never-printed"
FAKE_ENDPOINT_KEY = "FAKEendpointPrimaryKeyNeverPrinted0123456789"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    code = main(list(argv))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def assert_refused(run: Run, *words: str) -> None:
    """A prerequisite failure: a non-zero exit, one `error:` line naming `words`, and no traceback."""
    assert run.code == 2, run
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert "Traceback" not in run.text
    for word in words:
        assert word in lines[0], (word, lines[0])


def assert_no_secret(run: Run, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in run.text


def hermetic_cloud_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No credentials, profiles or gcloud/az configuration from this machine, and no metadata-server probes."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
                 "CLOUDSDK_CORE_PROJECT",
                 "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_SUBSCRIPTION_ID",
                 "CLOUD_RUN_ID_TOKEN", "ENABLED_MODELS", "VL_BASE_MODEL", "VL_LORA_ADAPTER", "USE_4BIT",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "IDENTITY_ENDPOINT",
                 "MSI_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE", "DEPLOY_IMAGE", "DEPLOY_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    with contextlib.suppress(ImportError):  # google-auth reads NO_GCE_CHECK once, at import
        from google.auth.compute_engine import _metadata

        monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure"))


def forward(worker: Service, path: str, body: bytes, content_type: str) -> requests.Response:
    """The exact body the tool sent to the endpoint, POSTed to the real worker's contract route."""
    return requests.post(worker.url + path, data=body, headers={"Content-Type": content_type}, timeout=120)


def decoded_image(b64: str) -> bytes:
    return base64.b64decode(b64)
