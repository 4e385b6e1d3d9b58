"""What Vertex AI and Cloud Run share: Application Default Credentials, the project, and the errors of Google's
client libraries turned into one line each. Clients use the REST transport (HTTP/1.1 JSON)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from deploy.errors import DeployError, import_sdk

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
LABELS = {"managed-by": "local-ai-stack-deploy"}


def credentials(project: str, package: str, cloud: str) -> tuple[Any, str]:
    """Application Default Credentials and the project (--project, else the one the credentials name)."""
    google_auth = import_sdk("google.auth", package, cloud)
    from google.auth import exceptions

    try:
        creds, default_project = google_auth.default(scopes=SCOPES)
    except exceptions.DefaultCredentialsError:
        raise DeployError(
            "No Google Cloud credentials found: run `gcloud auth application-default login`, or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service account key file."
        ) from None
    chosen = project or default_project
    if not chosen:
        raise DeployError("No Google Cloud project: pass --project or set GOOGLE_CLOUD_PROJECT.")
    return creds, chosen


def duration(seconds: int) -> Any:
    from google.protobuf import duration_pb2

    return duration_pb2.Duration(seconds=seconds)


def wait(operation: Any, timeout_s: int, what: str) -> Any:
    """The long-running operation's result, or a DeployError when it is still running after `timeout_s`."""
    try:
        return operation.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        raise DeployError(f"{what} was still running after {timeout_s} s; raise --wait-timeout-s.") from None


def is_not_found(error: Exception) -> bool:
    try:
        from google.api_core import exceptions
    except ImportError:
        return False
    return isinstance(error, exceptions.NotFound)


def explain(error: Exception, role: str, quota: str) -> str | None:
    """One line for a Google client error; `role` names the IAM role the caller needs, `quota` the quota to raise."""
    try:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth
    except ImportError:
        return None
    if isinstance(error, auth.RefreshError):
        return "Google rejected the credentials (refresh failed): run `gcloud auth application-default login` again."
    if isinstance(error, auth.DefaultCredentialsError):
        return "No Google Cloud credentials found: run `gcloud auth application-default login`."
    if isinstance(error, (api.PermissionDenied, api.Forbidden)):
        return f"Google Cloud denied the call: {error.message}. The caller needs {role} (see deploy/README.md)."
    if isinstance(error, (api.Unauthenticated, api.Unauthorized)):
        return f"Google Cloud did not accept the credentials: {error.message}."
    if isinstance(error, (api.ResourceExhausted, api.TooManyRequests)):
        return f"Quota exceeded: {error.message}. Request more {quota} in IAM & Admin > Quotas, or change region."
    if isinstance(error, api.GoogleAPICallError):
        return f"Google Cloud refused the call ({type(error).__name__}): {error.message}"
    return None
