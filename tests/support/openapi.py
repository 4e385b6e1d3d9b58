"""The services' OpenAPI documents in the tests: loading them (openapi-spec-validator, schemathesis), comparing them
with a Flask app's routes, and fuzzing a live service from them with schemathesis.

    from tests.support.openapi import document, fuzz_schema, route_table, documented_operations

    schema = fuzz_schema(LLM_API_DOCUMENT)            # a schemathesis schema with the suite's bounds and checks

    @schema.parametrize()                              # one test per operation
    def test_fuzz(case, service):
        call_and_check(case, service.url)              # 5xx, contract error shape, status, headers, body schema

The bounds: at most MAX_EXAMPLES generated cases per operation in the fuzzing phase, plus the document's examples and
schemathesis's coverage phase (boundary and type-violating values of every field), no deadline, a fixed seed
(`FUZZ_SEED` overrides it) and no example database on disk, so a run is the same every time. `FUZZ_SEED` and
`FUZZ_MAX_EXAMPLES` explore further by hand: `FUZZ_SEED=7 FUZZ_MAX_EXAMPLES=200 pytest tests/llm_api/test_fuzz.py`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests.support.procs import REPO_ROOT

LLM_API_DOCUMENT = REPO_ROOT / "llm-api" / "llm_api" / "openapi.json"
WORKER_DOCUMENT = REPO_ROOT / "model-worker" / "model_worker" / "openapi.json"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
UPSTREAM_STATUSES = ("502", "503", "504")  # the contract's upstream states: allowed, never another 5xx
METHODS = {"get", "put", "post", "delete", "patch"}
# Statuses the HTTP server (gunicorn) answers itself, in the contract's shape on every path.
SERVER_STATUSES = {414, 431}


def document(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _normalized(path: str) -> str:
    """A path with its parameters unnamed: Flask's `/sessions/<sid>` and OpenAPI's `/sessions/{session_id}` agree."""
    return re.sub(r"<[^>]*>|\{[^}]*\}", "{}", path)


def route_table(app: Flask) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, without the methods Flask adds to each (HEAD, OPTIONS) and
    without Flask's default static route (the services have no static folder: every path under it is 404)."""
    return {(method.lower(), _normalized(rule.rule)) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, _normalized(path)) for path, item in doc["paths"].items() for method in item if method in METHODS}


def with_configured_routes(doc: dict[str, Any], routes: dict[str, str]) -> dict[str, Any]:
    """The worker's document as a worker with Vertex AI routes serves it: each configured path (AIP_HEALTH_ROUTE,
    AIP_PREDICT_ROUTE) described by its `components.pathItems` template (model_worker/routes/openapi.py)."""
    served = json.loads(json.dumps(doc))
    served["paths"].update({path: served["components"]["pathItems"][name] for path, name in routes.items()})
    return served


def error_codes_by_status(doc: dict[str, Any]) -> dict[int, set[str]]:
    """Every error code the document allows for each status (from the `code` enums of its error responses)."""
    found: dict[int, set[str]] = {}

    def walk(value: Any) -> Iterable[list[str]]:
        if isinstance(value, dict):
            code = value.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
            if isinstance(code, dict) and isinstance(code.get("enum"), list):
                yield code["enum"]
            for child in value.values():
                yield from walk(child)
        elif isinstance(value, list):
            for child in value:
                yield from walk(child)

    for status, response in _error_responses(doc):
        for codes in walk(response):
            found.setdefault(status, set()).update(codes)
    return found


def _error_responses(doc: dict[str, Any]) -> Iterable[tuple[int, Any]]:
    components = doc["components"]["responses"]
    items = [*doc["paths"].values(), *doc["components"].get("pathItems", {}).values()]
    for item in items:
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                if status.isdigit() and int(status) >= 400:
                    if "$ref" in response:
                        response = components[response["$ref"].rsplit("/", 1)[-1]]
                    yield int(status), response


# -- schemathesis ------------------------------------------------------------------------------------------------
@schemathesis.deserializer("application/x-ndjson")
def _ndjson(_ctx: schemathesis.DeserializationContext, response: schemathesis.Response) -> list[Any]:
    """An NDJSON body as the list of its lines (the documents describe a stream's lines as an array)."""
    return [json.loads(line) for line in response.content.decode("utf-8").splitlines() if line.strip()]


def fuzz_config(bearer: str | None = None, **extra_checks: dict[str, Any]) -> schemathesis.Config:
    """The suite's bounds and checks; `bearer`: the key schemathesis sends for the `bearerAuth` scheme (and leaves
    out, or spoils, in negative cases, which must then be 401)."""
    checks = {
        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", *UPSTREAM_STATUSES]},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        "negative_data_rejection": {"enabled": True, "expected-statuses": [
            "400", "401", "404", "405", "413", "415", "422", "429", *UPSTREAM_STATUSES]},
        # Off: the documents cannot say everything a valid input is (an upload's bytes a real image or recording,
        # base64 that decodes, an integer written `5` rather than `5.0`, which JSON Schema counts as one too).
        "positive_data_acceptance": {"enabled": False},
        "missing_required_header": {"enabled": False},  # the operations require no request header
        "unsupported_method": {"enabled": True},  # another method: 405 with Allow
        "allow_header_conformance": {"enabled": True},
        "ignored_auth": {"enabled": bearer is not None},  # without the key (or with a wrong one): 401
        "use_after_free": {"enabled": False},  # these three need stateful runs (links between operations)
        "ensure_resource_availability": {"enabled": False},
        "object_level_authorization": {"enabled": False},
        **extra_checks,
    }
    return schemathesis.Config.from_dict({
        **({"auth": {"openapi": {"bearerAuth": {"bearer": bearer}}}} if bearer else {}),
        "seed": SEED,
        "suppress-health-check": ["all"],
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        "checks": checks,
    })


def fuzz_schema(path: Path, bearer: str | None = None, **extra_checks: dict[str, Any]):
    return schemathesis.openapi.from_path(path, config=fuzz_config(bearer, **extra_checks))


def contract_error(body: Any, request_id: str) -> str | None:
    """Why `body` is not the contract's error shape (None when it is)."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not {{'error': {{...}}}}: {body!r:.300}"
    detail = body["error"]
    if set(detail) != {"code", "message", "request_id"}:
        return f"error fields {sorted(detail)}, not code, message, request_id"
    if not (isinstance(detail["code"], str) and isinstance(detail["message"], str) and detail["message"]):
        return f"code or message missing: {detail!r:.300}"
    if detail["request_id"] != request_id:
        return f"request_id {detail['request_id']!r} is not the response's X-Request-ID {request_id!r}"
    if "Traceback" in detail["message"]:
        return "a stack trace in the message"
    return None


def openai_error(body: Any) -> str | None:
    """Why `body` is not OpenAI's error shape (None when it is)."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not {{'error': {{...}}}}: {body!r:.300}"
    detail = body["error"]
    if set(detail) != {"message", "type", "param", "code"}:
        return f"error fields {sorted(detail)}, not message, type, param, code"
    if not (isinstance(detail["message"], str) and detail["message"] and "Traceback" not in detail["message"]):
        return f"message missing or a stack trace: {detail!r:.300}"
    return None


def error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every error response is in the contract's shape (OpenAI's on the llm-api's `/v1` routes), names the request
    as its X-Request-ID does, and holds no stack trace; the check the fuzz files add to schemathesis's own."""
    if response.status_code < 400:
        return None
    request_id = response.headers.get("x-request-id", [""])[0]
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"HTTP {response.status_code} with a body that is not JSON: "
                             f"{response.content[:300]!r}") from None
    service = case.operation.schema.raw_schema["info"]["title"]
    openai_route = service == "llm-api" and case.formatted_path.startswith("/v1/")
    if openai_route and response.status_code not in SERVER_STATUSES:
        problem = openai_error(body)
    else:
        problem = contract_error(body, request_id)
    if problem:
        raise AssertionError(f"HTTP {response.status_code}: the error body is not in the contract's shape ({problem})")
    return None


def stream_order(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """An NDJSON stream's lines in the contract's order (their shapes are the document's): a `start` line only
    first, and `done` or `error` last (a stream that ends otherwise was cut)."""
    content_type = response.headers.get("content-type", [""])[0]
    if response.status_code != 200 or not content_type.startswith("application/x-ndjson"):
        return None
    lines = [json.loads(line) for line in response.content.decode("utf-8").splitlines() if line.strip()]
    kinds = [line.get("type") for line in lines if isinstance(line, dict)]
    if not kinds or kinds[-1] not in ("done", "error"):
        raise AssertionError(f"the stream does not end with a done or error line: {kinds}")
    if "start" in kinds[1:] or ("start" in kinds and kinds[0] != "start"):
        raise AssertionError(f"a start line that is not the stream's first: {kinds}")
    if kinds.count("done") + kinds.count("error") != 1:
        raise AssertionError(f"more than one done or error line: {kinds}")
    return None


def call_and_check(case: schemathesis.Case, base_url: str, **kwargs: Any) -> schemathesis.Response:
    """Send the case to the live service and run the configured checks plus `error_shape` and `stream_order`.

    A multipart body skips `negative_data_rejection`: beside a file part, schemathesis (4.32.5) cannot tell that a
    text field it mutated to `true` or `1` arrives as the text "true" or "1", a valid string, and reports the
    service's acceptance as a failure."""
    kwargs.setdefault("timeout", 60)
    excluded = [negative_data_rejection] if case.media_type == "multipart/form-data" else []
    return case.call_and_validate(base_url=base_url, additional_checks=[error_shape, stream_order],
                                  excluded_checks=excluded, **kwargs)
