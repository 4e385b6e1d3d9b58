"""Every operation of the model-worker's OpenAPI document fuzzed with schemathesis against the real worker (gunicorn,
the tiny checkpoints on CPU), its Vertex AI routes configured so they are fuzzed too, from the document the worker
serves (model_worker/openapi.json with those routes added).

Per operation: the document's examples, schemathesis's coverage phase (each field's boundaries and wrong types) and
`MAX_EXAMPLES` generated cases, positive and negative (tests/support/openapi.py): random uploads exercise the media
decoders, valid chat requests run the tiny Omni. Each response must be no 5xx but the contract's 502/503/504, of a
documented status and media type, with the documented headers and body, every error in the contract's shape, and each
schema-violating request refused. The llm-api in front of this worker answers its worker routes as its own document
says, too."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests
import schemathesis

from tests.doubles.stack import llm_api_service, ollama_double
from tests.support.openapi import (
    LLM_API_DOCUMENT,
    WORKER_DOCUMENT,
    call_and_check,
    document,
    fuzz_config,
    with_configured_routes,
)
from tests.support.procs import Service
from tests.worker.media_samples import encode_audio, form_image, image_bytes
from tests.worker.stack import model_worker_service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
VERTEX = {"/vertex/health": "VertexHealth", "/vertex/predict": "VertexPredict"}
SERVED = with_configured_routes(document(WORKER_DOCUMENT), VERTEX)
schema = schemathesis.openapi.from_dict(SERVED, config=fuzz_config())
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def fuzzed(tiny_checkpoints) -> Iterator[Service]:
    env = {"AIP_HEALTH_ROUTE": "/vertex/health", "AIP_PREDICT_ROUTE": "/vertex/predict", "REQUEST_TIMEOUT_S": "30"}
    with model_worker_service(tiny_checkpoints, env=env, name="fuzz") as service:
        yield service


def test_the_worker_serves_this_document(fuzzed):
    response = requests.get(fuzzed.url + "/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.json() == SERVED


def test_the_vertex_routes_answer_as_documented(fuzzed):
    health = call_and_check(schema["/vertex/health"]["GET"].Case(), fuzzed.url)
    assert health.status_code == 200, health.text
    instances = [{"image_base64": base64.b64encode(image_bytes(form_image(320, 200))).decode()}]
    predict = call_and_check(schema["/vertex/predict"]["POST"].Case(body={"instances": instances},
                                                                    media_type="application/json"), fuzzed.url)
    assert predict.status_code == 200, predict.text
    assert len(predict.json()["predictions"]) == 1


@pytest.fixture(scope="module")
def gateway(fuzzed, tmp_path_factory) -> Iterator[Service]:
    """The llm-api in front of this worker: its worker routes' successes, checked against the llm-api's document."""
    db = tmp_path_factory.mktemp("gateway") / "llm-api.sqlite3"
    with ollama_double() as ollama, llm_api_service(ollama.url, fuzzed.url, db, env={"WEB_CONCURRENCY": "1"}) as api:
        yield api


def test_the_llm_apis_worker_answers_match_its_document(gateway):
    llm_api = schemathesis.openapi.from_path(LLM_API_DOCUMENT, config=fuzz_config())

    def check(path: str, method: str, **case_kwargs) -> schemathesis.Response:
        response = call_and_check(llm_api[path][method].Case(**case_kwargs), gateway.url, timeout=180)
        assert response.status_code == 200, response.text
        return response

    png = image_bytes(form_image(320, 200))
    spoken = check("/voice-feedback", "POST", media_type="multipart/form-data",
                   body={"audio": encode_audio("webm_opus", 1.0), "return_audio": "true"},
                   multipart_content_types={"audio": "audio/webm"}).json()
    assert spoken["audio"]["format"] == "wav"
    check("/detect-fields", "POST", media_type="multipart/form-data", body={"image": png},
          multipart_content_types={"image": "image/png"})
    check("/detect-fields", "POST", media_type="application/json",
          body={"image_base64": base64.b64encode(png).decode(), "prompt": "Find the fields."})
    answer = check("/ask-llm", "POST", media_type="application/json",
                   body={"prompt": "Hello", "model": "omni", "options": {"max_tokens": 3}}).json()
    check("/ask-llm", "POST", media_type="application/json",
          body={"prompt": "Again", "model": "omni", "session_id": answer["session_id"], "stream": True})
    check("/v1/chat/completions", "POST", media_type="application/json",
          body={"model": "omni", "messages": HELLO, "max_tokens": 3, "stream": True})
    assert [m["state"] for m in check("/models", "GET").json()["models"] if m["name"] == "omni"] == ["ready"]
    assert check("/readyz", "GET").json()["status"] == "ready"


@schema.parametrize()
def test_fuzz_operation(case, fuzzed):
    call_and_check(case, fuzzed.url)


@pytest.mark.parametrize("options", [False, 0, "", []])
def test_found_by_fuzzing_options_that_are_not_an_object_are_refused(fuzzed, options):
    """They were taken as no options (`options or {}`)."""
    response = requests.post(fuzzed.url + "/omni/chat", json={"messages": HELLO, "options": options}, timeout=60)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("options", [{"temperature": 1}, {"temperature": 2, "top_p": 1}, {"temperature": 2e-128},
                                     {"temperature": 5e-324, "top_p": 1e-300}])
def test_found_by_fuzzing_sampling_options_in_range_are_answered(fuzzed, options):
    """They were 500s: transformers takes a float temperature (1.0), not the integer JSON gives for `1`, and a
    temperature near 0 made the logits infinite (now answered greedily, as 0 is)."""
    response = requests.post(fuzzed.url + "/omni/chat", timeout=60,
                             json={"messages": HELLO, "options": {**options, "max_tokens": 2, "seed": 1}})
    assert response.status_code == 200, response.text
