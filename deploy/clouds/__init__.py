"""One module per cloud, each with the same shape: `SETTINGS` (its settings class), `create`, `test`, `delete` and
`status` (each taking the settings and the console), and `explain(error)`, which turns an SDK's exception into the
one line the user sees (or None when it is not one it knows). Modules import their SDK only when a command runs."""

from __future__ import annotations

import importlib
from typing import Protocol

from deploy.console import Console
from deploy.settings import CommonSettings

CLOUDS = {
    "sagemaker": "Amazon SageMaker real-time endpoint (boto3)",
    "vertex": "Google Vertex AI endpoint (google-cloud-aiplatform)",
    "azure": "Azure Machine Learning managed online endpoint (azure-ai-ml)",
    "cloudrun": "Google Cloud Run service with an NVIDIA L4, the Omni feedback route (google-cloud-run)",
}
ACTIONS = ("create", "test", "delete", "status")


class Cloud(Protocol):
    SETTINGS: type[CommonSettings]

    def create(self, settings, console: Console) -> None: ...
    def test(self, settings, console: Console) -> None: ...
    def delete(self, settings, console: Console) -> None: ...
    def status(self, settings, console: Console) -> None: ...
    def explain(self, error: Exception) -> str | None: ...


def load(name: str) -> Cloud:
    module: Cloud = importlib.import_module(f"deploy.clouds.{name}")  # type: ignore[assignment]
    return module
