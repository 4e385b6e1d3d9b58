"""Both services build errors one way: the same exception class for each contract code, the same status for it, and
the same body. Each image holds its own `errors.py`; this test fails when the two drift apart."""

from __future__ import annotations

import inspect

from llm_api import errors as api_errors
from model_worker import errors as worker_errors


def _classes(module) -> dict[str, tuple[int, str]]:
    return {name: (cls.status, cls.code) for name, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, module.ApiError)}


def test_one_class_per_contract_code_in_both_services():
    assert _classes(api_errors) == _classes(worker_errors)
    codes = {code for _status, code in _classes(api_errors).values()}
    assert codes == {"bad_request", "unauthorized", "forbidden", "not_found", "model_not_found", "method_not_allowed",
                     "payload_too_large", "unsupported_media_type", "unprocessable_media", "overloaded", "internal",
                     "backend_error", "backend_unavailable", "backend_timeout"}


def test_status_lookup_and_body_agree():
    for status in (400, 401, 403, 404, 405, 413, 415, 418, 422, 429, 500, 502, 503, 504, 507):
        ours, theirs = api_errors.error_for_status(status, "x"), worker_errors.error_for_status(status, "x")
        assert (ours.status, ours.code, type(ours).__name__) == (theirs.status, theirs.code, type(theirs).__name__)
        assert ours.status == status  # an unlisted status keeps its number
    error = api_errors.BackendUnavailable("Try again.", retry_after=3)
    twin = worker_errors.BackendUnavailable("Try again.", retry_after=3)
    assert error.body("r1") == twin.body("r1") == {
        "error": {"code": "backend_unavailable", "message": "Try again.", "request_id": "r1"}}
