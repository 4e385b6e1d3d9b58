"""Every operation of the llm-api's OpenAPI document (llm_api/openapi.json) fuzzed with schemathesis against the
real service (gunicorn) in front of the Ollama double, with its own database; the worker is not running, so the
worker's routes answer 503 once their input is valid (an upstream state the contract allows).

Per operation: the document's examples, schemathesis's coverage phase (each field's boundaries and wrong types) and
`MAX_EXAMPLES` generated cases, positive and negative (tests/support/openapi.py). Each response must be no 5xx but
the contract's 502/503/504, of a documented status and media type, with the documented headers and body, every error
in the contract's shape (OpenAI's on /v1), and each schema-violating request refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.doubles.ollama_double import OllamaDouble
from tests.doubles.stack import llm_api_service
from tests.llm_api.conftest import API_KEY, LOG_DIR
from tests.support.openapi import LLM_API_DOCUMENT, call_and_check, fuzz_schema
from tests.support.procs import Service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
schema = fuzz_schema(LLM_API_DOCUMENT, bearer=API_KEY)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, double_server: OllamaDouble, closed_url: str) -> Iterator[Service]:
    """An llm-api of its own (fuzzing creates and deletes sessions, and pulls models into the double), with an
    API_KEY: schemathesis sends it, and leaves it out or spoils it in negative cases."""
    double_server.reset()
    db = tmp_path_factory.mktemp("fuzz") / "llm-api.sqlite3"
    with llm_api_service(double_server.url, closed_url, db, env={"UPSTREAM_TIMEOUT_S": "5", "API_KEY": API_KEY},
                         log_dir=LOG_DIR) as service:
        yield service
    double_server.reset()


@schema.parametrize()
def test_fuzz_operation(case, fuzzed):
    call_and_check(case, fuzzed.url)


HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": {}, "content": "hi"}]}, "messages[0].role"),  # was a 500: an unhashable role
    ({"messages": [{"role": ["user"], "content": "hi"}]}, "messages[0].role"),
    ({"messages": HELLO, "max_completion_tokens": 5, "max_tokens": 0}, "max_tokens"),  # was ignored, not refused
])
def test_found_by_fuzzing_openai_arguments_are_refused(fuzzed, body, param):
    response = requests.post(fuzzed.url + "/v1/chat/completions", json={"model": "qwen2.5:0.5b", **body},
                             headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
