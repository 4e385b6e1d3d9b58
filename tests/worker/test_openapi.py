"""The model-worker's OpenAPI document (model_worker/openapi.json, served at GET /openapi.json with the Vertex AI
routes the worker is configured with): valid OpenAPI 3.1, the same routes as the app (with and without the Vertex
routes), the same error codes per status as errors.py, every path named in docs/api.md, shipped in the image, and the
real app's answers on the tiny checkpoints (each route's success, stream and errors) valid against it, checked by
schemathesis through the app in-process. Fuzzing every operation of the live worker is tests/worker/test_fuzz.py."""

from __future__ import annotations

import base64
import fnmatch
import json
import re

import schemathesis
from openapi_spec_validator import OpenAPIV31SpecValidator

from model_worker import errors
from model_worker.app import create_app
from model_worker.config import WorkerConfig
from tests.support.openapi import (
    WORKER_DOCUMENT,
    call_and_check,
    document,
    documented_operations,
    error_codes_by_status,
    fuzz_config,
    route_table,
    with_configured_routes,
)
from tests.support.procs import REPO_ROOT
from tests.worker.media_samples import encode_audio, form_image, image_bytes

WORKER_DIR = REPO_ROOT / "model-worker"
DOC = document(WORKER_DOCUMENT)
VERTEX = {"AIP_HEALTH_ROUTE": "/v1/health", "AIP_PREDICT_ROUTE": "/v1/endpoints/1:predict"}
schema = schemathesis.openapi.from_path(WORKER_DOCUMENT, config=fuzz_config())


def modelless_app(**env: str):
    return create_app(WorkerConfig.from_env({"ENABLED_MODELS": "", **env}), start_loading=False)


def test_document_is_valid_openapi_3_1():
    assert DOC["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(DOC).validate()
    OpenAPIV31SpecValidator(with_configured_routes(DOC, {VERTEX["AIP_HEALTH_ROUTE"]: "VertexHealth",
                                                         VERTEX["AIP_PREDICT_ROUTE"]: "VertexPredict"})).validate()


def test_schemathesis_reads_every_operation():
    operations = list(schema.get_all_operations())
    assert [result.err() for result in operations if not hasattr(result, "ok")] == []
    assert len(operations) == len(documented_operations(DOC))


def test_every_route_is_documented_and_every_operation_is_a_route():
    assert route_table(modelless_app()) == documented_operations(DOC)


def test_the_served_document_adds_the_configured_vertex_routes():
    plain = modelless_app().test_client().get("/openapi.json")
    assert plain.status_code == 200 and plain.mimetype == "application/json"
    assert plain.json == DOC
    app = modelless_app(**VERTEX)
    served = app.test_client().get("/openapi.json").json
    assert served == with_configured_routes(DOC, {VERTEX["AIP_HEALTH_ROUTE"]: "VertexHealth",
                                                   VERTEX["AIP_PREDICT_ROUTE"]: "VertexPredict"})
    assert route_table(app) == documented_operations(served)


def test_error_statuses_carry_their_codes_from_errors_py():
    status_of = {cls.code: cls.status for cls in (*errors.BY_STATUS.values(), errors.ModelNotFound)}
    server_codes = {414: {"payload_too_large"}, 431: {"payload_too_large"}}  # gunicorn's own (gunicorn_worker)
    for status, codes in error_codes_by_status(DOC).items():
        for code in codes:
            assert status_of.get(code) == status or code in server_codes.get(status, ()), (status, code)


def test_every_path_is_named_in_docs_api_md():
    contract = (REPO_ROOT / "docs" / "api.md").read_text()
    for path in DOC["paths"]:
        assert re.search(f"`(GET |POST )?{re.escape(path)}[`? ]", contract), f"{path} is not in docs/api.md"


def test_the_image_ships_the_document():
    dockerfile = (WORKER_DIR / "Dockerfile").read_text()
    assert re.search(r"^COPY (--\S+ )*model_worker \./model_worker$", dockerfile, re.MULTILINE)
    lines = [line.strip() for line in (WORKER_DIR / ".dockerignore").read_text().splitlines()]
    for pattern in (line for line in lines if line and not line.startswith(("#", "!"))):
        for candidate in ("model_worker/openapi.json", "openapi.json"):
            assert not fnmatch.fnmatch(candidate, pattern.removeprefix("**/")), pattern


# -- the real app's answers, validated by schemathesis against the document -------------------------------------
def check(app, path: str, method: str, status: int, **case_kwargs) -> schemathesis.Response:
    """One explicit request to the app in-process, checked as the fuzzer's are; asserts its status."""
    response = call_and_check(schema[path][method].Case(**case_kwargs), "http://worker", app=app)
    assert response.status_code == status, response.text
    return response


def test_health_and_operations_match_the_document(loaded_app):
    for path in ("/healthz", "/readyz", "/ping", "/metrics", "/openapi.json"):
        check(loaded_app, path, "GET", 200)


def test_omni_answers_and_errors_match_the_document(loaded_app):
    spoken = check(loaded_app, "/omni/feedback", "POST", 200, media_type="multipart/form-data",
                   body={"audio": encode_audio("webm_opus", 1.0), "return_audio": "true"},
                   multipart_content_types={"audio": "audio/webm"}).json()
    assert spoken["audio"]["sample_rate"] == 24000
    check(loaded_app, "/omni/feedback", "POST", 422, media_type="multipart/form-data",
          body={"audio": b"RIFFjunk"}, multipart_content_types={"audio": "audio/wav"})
    heard = check(loaded_app, "/omni/transcribe", "POST", 200, media_type="multipart/form-data",
                  body={"audio": encode_audio("wav", 1.0), "language": "ja"},
                  multipart_content_types={"audio": "audio/wav"}).json()
    assert isinstance(heard["transcript"], str)
    check(loaded_app, "/omni/transcribe", "POST", 400, media_type="multipart/form-data",
          body={"audio": encode_audio("wav", 0.5), "language": "ja_JP"}, multipart_content_types={"audio": "audio/wav"})
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    check(loaded_app, "/omni/chat", "POST", 200, media_type="application/json",
          body={"messages": messages, "options": {"max_tokens": 4, "seed": 1}})
    lines = check(loaded_app, "/omni/chat", "POST", 200, media_type="application/json",
                  body={"messages": messages, "stream": True}).text.splitlines()
    assert [json.loads(lines[0])["type"], json.loads(lines[-1])["type"]] == ["start", "done"]
    check(loaded_app, "/omni/chat", "POST", 400, media_type="application/json",
          body={"messages": [{"role": "assistant", "content": "last"}]})


def test_detections_and_errors_match_the_document(loaded_app):
    png = image_bytes(form_image(320, 200))
    encoded = base64.b64encode(png).decode()
    check(loaded_app, "/detect", "POST", 200, media_type="multipart/form-data", body={"image": png},
          multipart_content_types={"image": "image/png"})
    check(loaded_app, "/detect", "POST", 200, media_type="application/json", body={"image_base64": encoded})
    check(loaded_app, "/detect", "POST", 415, media_type="multipart/form-data", body={"image": b"GIF89a"},
          multipart_content_types={"image": "image/gif"})
    check(loaded_app, "/invocations", "POST", 200, media_type="image/png", body=png)
    check(loaded_app, "/invocations", "POST", 200, media_type="application/json", body={"inputs": encoded})
    check(loaded_app, "/score", "POST", 200, media_type="application/json", body={"image_base64": encoded})
    check(loaded_app, "/score", "POST", 400, media_type="application/json", body={"image_base64": ""})


def test_no_operation_is_left_without_a_checked_answer():
    """The tests above (and test_fuzz.py's Vertex AI test) send a request to every operation of the document."""
    checked = {("get", p) for p in ("/healthz", "/readyz", "/ping", "/metrics", "/openapi.json")} | {
        ("post", p) for p in ("/omni/feedback", "/omni/transcribe", "/omni/chat", "/detect", "/invocations", "/score")}
    assert documented_operations(DOC) == checked
