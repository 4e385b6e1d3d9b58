"""The chart's values.schema.json, derived from its values.yaml: `python deploy/helm/values_schema.py` rewrites it.

Helm checks the values of every install, upgrade, lint and template against that schema, so a misspelt key
(`llmapi.replicas`) or a wrong type (`replicas: two`) fails at once instead of being ignored. Every object of
values.yaml becomes a closed object (no other keys) with its keys' types, except the free-form maps (environment
variables, annotations, labels, selectors, resources, affinity). tests/deploy checks that the file is up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "local-ai-stack"
SCHEMA = CHART / "values.schema.json"

SCALAR = {"type": ["string", "number", "boolean"]}
# Maps whose keys are the user's (environment variables, labels, Kubernetes objects passed through as they are).
FREE_FORM = {
    "env": {"type": "object", "additionalProperties": SCALAR},
    "requestLimits": {"type": "object", "additionalProperties": SCALAR},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "podAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "podLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
    "resources": {"type": "object"},
    "affinity": {"type": "object"},
    "namespaceSelector": {"type": "object"},
    "podSelector": {"type": "object"},
    "containerSecurityContext": {"type": "object"},
}
BACKEND = {
    "type": "object",
    "required": ["name", "baseUrl"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,31}$"},
        "baseUrl": {"type": "string", "pattern": "^https?://"},
        "models": {"type": "array", "items": {"type": "string"}},
        "apiKey": {"type": "string"},
        "existingSecret": {"type": "string"},
        "existingSecretKey": {"type": "string"},
    },
}
LISTS = {"openaiBackends": BACKEND, "accessModes": {"type": "string"}, "imagePullSecrets": {}}
INT_OR_STRING = {"minAvailable", "maxUnavailable"}  # a number of pods or a percentage


def schema_for(key: str, value: Any) -> dict[str, Any]:
    if key in FREE_FORM:
        return FREE_FORM[key]
    if key in INT_OR_STRING:
        return {"type": ["integer", "string"]}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer", "minimum": 0}
    if isinstance(value, list):
        return {"type": "array", "items": LISTS.get(key, {})}
    if isinstance(value, dict):
        return {
            "type": "object",
            "additionalProperties": key == "global",  # a parent chart may pass globals of its own
            "properties": {k: schema_for(k, v) for k, v in value.items()},
        }
    if key == "tag":
        return {"type": "string", "not": {"const": "latest"}}
    if isinstance(value, str) and value.isdigit():  # "600": a number given as a string, either is fine
        return {"type": ["string", "integer"]}
    return {"type": "string"}


def build() -> dict[str, Any]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = schema_for("", values)
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "local-ai-stack values", **schema}


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    SCHEMA.write_text(render())
    sys.stdout.write(f"wrote {SCHEMA}\n")
