"""Pure parts of the backend clients: Ollama timings, worker error mapping, worker timings."""

from __future__ import annotations

from llm_api.ollama import ollama_timings, pull_hint
from llm_api.worker import chat_timings, worker_error


def test_ollama_nanoseconds_become_milliseconds_and_tokens_per_second():
    final = {"total_duration": 4_935_886_791, "load_duration": 534_986_708, "prompt_eval_count": 26,
             "prompt_eval_duration": 107_345_000, "eval_count": 237, "eval_duration": 4_289_432_000}
    assert ollama_timings(final, first_token_ms=12.5) == {
        "total_ms": 4935.887, "load_ms": 534.987, "prompt_tokens": 26, "completion_tokens": 237,
        "tokens_per_s": 55.25, "first_token_ms": 12.5}


def test_missing_ollama_timings_are_null():
    assert ollama_timings({}) == dict.fromkeys(
        ("total_ms", "load_ms", "prompt_tokens", "completion_tokens", "tokens_per_s", "first_token_ms"))
    partial = ollama_timings({"eval_count": 3, "eval_duration": 0, "total_duration": "x", "load_duration": True})
    assert partial["completion_tokens"] == 3 and partial["tokens_per_s"] is None
    assert partial["total_ms"] is None and partial["load_ms"] is None


def test_pull_hint_names_the_model_and_both_ways_to_pull():
    hint = pull_hint("llama3.2:1b")
    assert "llama3.2:1b" in hint and "POST /models/pull" in hint and "ollama pull llama3.2:1b" in hint


def test_worker_busy_and_loading_pass_through_with_retry_after():
    body = {"error": {"code": "overloaded", "message": "queue full", "request_id": "w1"}}
    err = worker_error(429, body, {"Retry-After": "7"})
    assert (err.status, err.code, err.message, err.retry_after) == (429, "overloaded", "queue full", 7)
    err = worker_error(503, {"error": {"code": "backend_unavailable", "message": "omni is loading"}}, {})
    assert (err.status, err.code, err.retry_after) == (503, "backend_unavailable", 5)


def test_worker_validation_errors_pass_through():
    err = worker_error(422, {"error": {"code": "unprocessable_media", "message": "corrupt audio"}}, {})
    assert (err.status, err.code, err.message) == (422, "unprocessable_media", "corrupt audio")
    err = worker_error(400, {"error": {"code": "something_else", "message": "too long"}}, {})
    assert (err.status, err.code) == (400, "bad_request")
    assert worker_error(413, None, {}).code == "payload_too_large"
    assert worker_error(504, None, {}).code == "backend_timeout"


def test_worker_disabled_model_passes_through_as_model_not_found():
    message = "the omni model is disabled on this worker; add omni to the worker's ENABLED_MODELS to enable it"
    err = worker_error(404, {"error": {"code": "model_not_found", "message": message, "request_id": "w"}}, {})
    assert (err.status, err.code, err.message, err.retry_after) == (404, "model_not_found", message, None)
    assert worker_error(404, {"error": {"code": "model_not_found"}}, {}).message  # never an empty message
    # any other 404 (a wrong WORKER_URL path, an unknown route) is still the worker answering badly
    assert worker_error(404, {"error": {"code": "not_found", "message": "no route"}}, {}).status == 502


def test_other_worker_failures_are_backend_errors():
    for status, body in ((500, {"error": {"code": "internal", "message": "boom"}}), (404, "nope"), (502, None)):
        err = worker_error(status, body, {})
        assert (err.status, err.code) == (502, "backend_error")
        assert str(status) in err.message


def test_worker_chat_timings_keep_only_contract_keys():
    timings = chat_timings({"total_ms": 10, "inference_ms": 5, "completion_tokens": 3, "tokens_per_s": True})
    assert timings == {"total_ms": 10, "load_ms": None, "prompt_tokens": None, "completion_tokens": 3,
                       "tokens_per_s": None, "first_token_ms": None}
    assert chat_timings(None)["total_ms"] is None
