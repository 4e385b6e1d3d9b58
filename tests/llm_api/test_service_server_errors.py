"""gunicorn's own rejections, sent before the app runs (414, 431, a malformed request line, header,
Content-Length, Transfer-Encoding or HTTP version), are the contract's JSON errors on the llm-api as its image
runs it (Dockerfile CMD, gunicorn.conf.py, the gevent worker subclass in llm_api/gunicorn_worker.py)."""

from __future__ import annotations

import json
import time

import pytest

from tests.doubles.stack import LLM_API_DIR
from tests.llm_api.conftest import log_of
from tests.llm_api.gunicorn_rejections import CASES, assert_json_rejection, headers_of, read_until_closed
from tests.support.procs import dockerfile_cmd
from tests.support.raw_http import raw_exchange


def test_the_image_serves_with_the_json_error_worker():
    assert dockerfile_cmd(LLM_API_DIR / "Dockerfile")[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    config = (LLM_API_DIR / "gunicorn.conf.py").read_text()
    assert 'worker_class = "llm_api.gunicorn_worker.JsonErrorGeventWorker"' in config


@pytest.mark.parametrize(("request_bytes", "status", "code"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_gunicorn_rejection_is_a_contract_error(api, request_bytes, status, code):
    head, body = raw_exchange(api.port, request_bytes)
    assert_json_rejection(head, body, status, code)
    assert b"<html" not in head


def test_rejection_is_logged_with_its_request_id(api):
    _head, body = raw_exchange(api.port, CASES[0][1])
    request_id = body["error"]["request_id"]
    deadline = time.monotonic() + 10
    while f"request_id={request_id}" not in log_of(api) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"request_id={request_id}: Request Line is too large" in log_of(api)


def test_broken_body_the_app_did_not_read_is_rejected_as_json_after_the_answer(api):
    """The app answers 405 without reading the body; gunicorn then drains it for the next request on the
    connection, finds the broken chunk and rejects it: that second answer is JSON too, and the connection closes."""
    reply = read_until_closed(api.port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        b"zz\r\n")
    first_head, _, rest = reply.partition(b"\r\n\r\n")
    length = int(headers_of(first_head)["content-length"][0])
    assert first_head.startswith(b"HTTP/1.1 405 ") and b'"method_not_allowed"' in rest[:length]

    second_head, _, second_body = rest[length:].partition(b"\r\n\r\n")
    assert_json_rejection(second_head, json.loads(second_body), 400, "bad_request")
