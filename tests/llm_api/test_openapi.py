"""The llm-api's OpenAPI document (llm_api/openapi.json, served at GET /openapi.json): valid OpenAPI 3.1, the same
routes as the app, the same error codes per status as errors.py, every path named in docs/api.md, shipped in the
image, public under API_KEY while every other secured operation is 401 without the key, and real answers of the
running service (each kind of success, stream and error) valid against it, checked by schemathesis. The fuzzing of
every operation from it is tests/llm_api/test_fuzz.py."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
import requests
import schemathesis
from flask import Flask, Response
from openapi_spec_validator import OpenAPIV31SpecValidator

from llm_api import errors
from llm_api.app import create_app
from llm_api.config import load_config
from tests.doubles.stack import LLM_API_DIR
from tests.llm_api.media_samples import image_bytes, wav_bytes
from tests.support.openapi import (
    LLM_API_DOCUMENT,
    METHODS,
    call_and_check,
    document,
    documented_operations,
    error_codes_by_status,
    fuzz_config,
    route_table,
    stream_order,
)
from tests.support.procs import REPO_ROOT

DOC = document(LLM_API_DOCUMENT)
schema = schemathesis.openapi.from_path(LLM_API_DOCUMENT, config=fuzz_config())


def test_document_is_valid_openapi_3_1():
    assert DOC["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(DOC).validate()


def test_schemathesis_reads_every_operation():
    operations = list(schema.get_all_operations())
    failed = [result.err() for result in operations if not hasattr(result, "ok")]
    assert failed == []
    assert len(operations) == len(documented_operations(DOC))


def test_every_route_is_documented_and_every_operation_is_a_route(tmp_path):
    app = create_app(load_config({"DATABASE_PATH": str(tmp_path / "db.sqlite3"), "OLLAMA_URL": "http://127.0.0.1:9",
                                  "WORKER_URL": "http://127.0.0.1:9"}))
    assert route_table(app) == documented_operations(DOC)


def test_error_statuses_carry_their_codes_from_errors_py():
    status_of = {cls.code: cls.status for cls in (*errors.BY_STATUS.values(), errors.ModelNotFound)}
    status_of["invalid_api_key"] = 401  # OpenAI's code for a 401 on /v1 (errors.ApiError.openai_body)
    server_codes = {414: {"payload_too_large"}, 431: {"payload_too_large"}}  # gunicorn's own (gunicorn_worker)
    for status, codes in error_codes_by_status(DOC).items():
        for code in codes:
            assert status_of.get(code) == status or code in server_codes.get(status, ()), (status, code)


def test_every_path_is_named_in_docs_api_md():
    contract = (REPO_ROOT / "docs" / "api.md").read_text()
    for path in DOC["paths"]:
        pattern = re.escape(re.sub(r"\{[^}]*\}", "\0", path)).replace("\0", "<[^>]+>")
        assert re.search(f"`(GET |POST |DELETE )?{pattern}[`? ]", contract), f"{path} is not in docs/api.md"


def test_the_image_ships_the_document():
    dockerfile = (LLM_API_DIR / "Dockerfile").read_text()
    assert re.search(r"^COPY (--\S+ )*llm_api \./llm_api$", dockerfile, re.MULTILINE)
    ignored = [line.strip() for line in (LLM_API_DIR / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith(("#", "!"))]
    for pattern in ignored:
        for candidate in ("llm_api/openapi.json", "openapi.json"):
            assert not fnmatch.fnmatch(candidate, pattern.removeprefix("**/")), pattern


def test_served_document_is_the_package_file(api):
    response = requests.get(api.url + "/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == DOC
    assert response.headers["X-Request-ID"]


def _example_path(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "abc", path)


def test_the_document_is_public_and_every_secured_operation_needs_the_key(api_auth):
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            response = requests.request(method, api_auth.url + _example_path(path), timeout=10)
            if operation.get("security", DOC["security"]) == []:
                assert response.status_code != 401, (method, path)
                continue
            assert response.status_code == 401, (method, path)
            detail = response.json()["error"]
            assert detail["code"] == ("invalid_api_key" if path.startswith("/v1/") else "unauthorized")


# -- real answers, validated by schemathesis against the document ----------------------------------------------
def check(path: str, method: str, base_url: str, status: int, **case_kwargs) -> schemathesis.Response:
    """One explicit request, sent and checked as the fuzzer's are; returns the answer after asserting its status."""
    case = schema[path][method].Case(**case_kwargs)
    response = call_and_check(case, base_url)
    assert response.status_code == status, response.text
    return response


def test_chat_answers_streams_and_sessions_match_the_document(api, ollama):
    answer = check("/ask-llm", "POST", api.url, 200, body={"prompt": "hello", "options": {"max_tokens": 5}},
                   media_type="application/json").json()
    stream = check("/ask-llm", "POST", api.url, 200, media_type="application/json",
                   body={"prompt": "again", "session_id": answer["session_id"], "stream": True, "system": "Be brief."})
    lines = [json.loads(line) for line in stream.text.splitlines()]
    assert [lines[0]["type"], lines[-1]["type"]] == ["start", "done"]
    sid = answer["session_id"]
    check("/sessions", "GET", api.url, 200, query={"limit": 5})
    check("/sessions/{session_id}", "GET", api.url, 200, path_parameters={"session_id": sid})
    check("/sessions/{session_id}", "DELETE", api.url, 204, path_parameters={"session_id": sid})
    check("/sessions/{session_id}", "GET", api.url, 404, path_parameters={"session_id": sid})
    check("/ask-llm", "POST", api.url, 404, body={"prompt": "hi", "model": "nope:1b"}, media_type="application/json")
    check("/ask-llm", "POST", api.url, 400, body={"prompt": " "}, media_type="application/json")


def test_a_stream_that_fails_midway_matches_the_document(api, ollama):
    ollama.set(error_after_tokens=2)
    lines = check("/ask-llm", "POST", api.url, 200, body={"prompt": "one two three four", "stream": True},
                  media_type="application/json").text.splitlines()
    assert json.loads(lines[-1])["type"] == "error"
    events = check("/v1/chat/completions", "POST", api.url, 200, media_type="application/json",
                   body={"model": "qwen2.5:0.5b", "stream": True,
                         "messages": [{"role": "user", "content": "one two three four"}]}).text
    assert '"error"' in events and "[DONE]" not in events


def test_openai_answers_and_errors_match_the_document(api, ollama):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
    whole = check("/v1/chat/completions", "POST", api.url, 200, media_type="application/json",
                  headers={"X-Session-ID": "new"}, body={"model": "qwen2.5:0.5b", "messages": messages})
    assert whole.headers["x-session-id"][0]
    events = check("/v1/chat/completions", "POST", api.url, 200, media_type="application/json",
                   body={"model": "qwen2.5:0.5b", "messages": messages, "stream": True,
                         "stream_options": {"include_usage": True}}).text
    assert events.rstrip().endswith("data: [DONE]")
    check("/v1/models", "GET", api.url, 200)
    check("/v1/chat/completions", "POST", api.url, 404, media_type="application/json",
          body={"model": "nope:1b", "messages": messages})
    check("/v1/chat/completions", "POST", api.url, 400, media_type="application/json",
          body={"model": "qwen2.5:0.5b", "messages": messages, "n": 2})


def test_models_health_and_operations_match_the_document(api, ollama):
    check("/models", "GET", api.url, 200)
    lines = check("/models/pull", "POST", api.url, 200, body={"name": "qwen2.5:0.5b"},
                  media_type="application/json").text.splitlines()
    assert json.loads(lines[-1]) == {"type": "done"}
    check("/healthz", "GET", api.url, 200)
    assert check("/readyz", "GET", api.url, 200).json()["status"] == "degraded"  # the worker is not running
    check("/metrics", "GET", api.url, 200)
    check("/openapi.json", "GET", api.url, 200)


def test_worker_routes_match_the_document_while_the_worker_is_down(api):
    wav = wav_bytes(1.0)
    response = check("/voice-feedback", "POST", api.url, 503, media_type="multipart/form-data",
                     body={"audio": wav, "return_audio": "true"}, multipart_content_types={"audio": "audio/wav"})
    assert int(response.headers["retry-after"][0]) > 0
    check("/detect-fields", "POST", api.url, 503, media_type="multipart/form-data",
          body={"image": image_bytes("PNG")}, multipart_content_types={"image": "image/png"})
    check("/detect-fields", "POST", api.url, 415, media_type="multipart/form-data",
          body={"image": b"not an image"}, multipart_content_types={"image": "image/gif"})
    check("/detect-fields", "POST", api.url, 413, media_type="application/json",
          body={"image_base64": "A" * (28 * 1024 * 1024)})


def _fake(path: str, body: bytes, mimetype: str = "application/x-ndjson", status: int = 200):
    app = Flask(__name__)
    app.add_url_rule(path, "fake", lambda: Response(body, status=status, mimetype=mimetype), methods=["GET", "POST"])
    return app.test_client().post(path)


def test_a_stream_line_off_the_document_fails_validation():
    """The NDJSON deserializer is on: a stream's lines are checked, not skipped as an unknown media type."""
    start = b'{"type": "start", "session_id": "s", "model": "m", "message_id": "x"}\n'
    done = b'{"type": "done", "answer": "", "timings": {"total_ms": 1, "load_ms": null, "prompt_tokens": null, ' \
           b'"completion_tokens": null, "tokens_per_s": null, "first_token_ms": null}}\n'
    operation = schema["/ask-llm"]["POST"]
    assert operation.is_valid_response(_fake("/ask-llm", start + done))
    assert not operation.is_valid_response(_fake("/ask-llm", start + b'{"type": "tok"}\n'))


@pytest.mark.parametrize("lines", [[b'{"type": "token", "text": "a"}', b'{"type": "start"}'],
                                   [b'{"type": "start"}', b'{"type": "token", "text": "cut"}']])
def test_the_stream_order_check_catches_a_misordered_or_cut_stream(lines):
    fake = schemathesis.Response.from_any(_fake("/ask-llm", b"\n".join(lines) + b"\n"))
    with pytest.raises(AssertionError):
        stream_order(None, fake, None)


def test_an_error_off_the_contract_fails_validation():
    operation = schema["/sessions"]["GET"]
    assert not operation.is_valid_response(_fake("/sessions", b'{"error": "plain"}', "application/json", 400))
    wrong_code = b'{"error": {"code": "not_found", "message": "m", "request_id": "r"}}'
    assert not operation.is_valid_response(_fake("/sessions", wrong_code, "application/json", 400))
