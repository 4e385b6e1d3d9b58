"""The one error the tool reports: a sentence saying what is missing and how to fix it (never a traceback)."""

from __future__ import annotations

import importlib
from types import ModuleType


class DeployError(Exception):
    """A prerequisite is missing or the cloud refused: `str(error)` is the line printed to the user."""


def import_sdk(module: str, package: str, cloud: str) -> ModuleType:
    """`module` imported, or a DeployError naming the pip package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DeployError(
            f"The {cloud} SDK is not installed (no module {module!r}): "
            f"pip install -r deploy/requirements.txt (or pip install {package})."
        ) from None
