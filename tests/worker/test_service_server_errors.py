"""gunicorn's own rejections are the contract's JSON errors on the model-worker as its image runs it (Dockerfile
CMD, gunicorn.conf.py, `model_worker.gunicorn_worker.JsonErrorBufferingWorker`), and an oversized or line-breaking
`X-Request-ID` is replaced by a fresh one. The worker runs with no model enabled: nothing here reaches a model.

Also, without a server: `JsonErrors` gives every exception gunicorn 27's own `handle_error` would answer the same
status, and the llm-api's copy of it is the same code."""

from __future__ import annotations

import inspect
import json
import ssl
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from gunicorn.config import Config
from gunicorn.http import errors as gerrors
from gunicorn.workers.base import Worker

from model_worker import gunicorn_worker
from tests.llm_api.gunicorn_rejections import (
    CASES,
    REQUEST_IDS,
    assert_json_rejection,
    assert_request_id_handled,
    headers_of,
    read_until_closed,
)
from tests.support.procs import REPO_ROOT
from tests.support.raw_http import raw_exchange
from tests.worker.stack import modelless_worker_service, wait_for_log


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    with modelless_worker_service(tmp_path_factory.mktemp("no-models"), "server-errors") as service:
        yield service


@pytest.mark.parametrize(("request_bytes", "status", "code"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_gunicorn_rejection_is_a_contract_error(worker, request_bytes, status, code):
    head, body = raw_exchange(worker.port, request_bytes)
    assert_json_rejection(head, body, status, code)


def test_rejection_is_logged_with_its_request_id(worker):
    _head, body = raw_exchange(worker.port, CASES[0][1])
    assert wait_for_log(worker, f"request_id={body['error']['request_id']}: Request Line is too large")


def test_broken_body_the_app_did_not_read_is_rejected_as_json_after_the_answer(worker):
    reply = read_until_closed(worker.port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                           b"\r\nzz\r\n")
    first_head, _, rest = reply.partition(b"\r\n\r\n")
    length = int(headers_of(first_head)["content-length"][0])
    assert first_head.startswith(b"HTTP/1.1 405 ") and b'"method_not_allowed"' in rest[:length]
    second_head, _, second_body = rest[length:].partition(b"\r\n\r\n")
    assert_json_rejection(second_head, json.loads(second_body), 400, "bad_request")


def test_the_worker_still_serves_after_the_rejections(worker):
    started = time.monotonic()
    head, body = raw_exchange(worker.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == {"status": "ok"}
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("request_id", "status", "echoed"), [case[1:] for case in REQUEST_IDS],
                         ids=[case[0] for case in REQUEST_IDS])
def test_request_id_that_is_oversized_or_holds_a_line_break_is_replaced(worker, request_id, status, echoed):
    assert_request_id_handled(worker.port, request_id, status, echoed)


class _Capture:
    """Stands in for the client socket: keeps what is written."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data


def _every_gunicorn_error() -> list[BaseException]:
    classes = [cls for _, cls in inspect.getmembers(gerrors, inspect.isclass)
               if issubclass(cls, gerrors.ParseException)]
    errors = []
    for cls in classes:
        try:
            parameters = inspect.signature(cls).parameters.values()
        except ValueError:  # Exception's own __init__
            parameters = []
        required = [p for p in parameters if p.default is inspect.Parameter.empty]
        errors.append(cls(*["x"] * len(required)))
    return [*errors, ssl.SSLError(1, "handshake"), ValueError("a bug")]


@pytest.mark.parametrize("exc", _every_gunicorn_error(), ids=lambda exc: type(exc).__name__)
def test_same_status_as_gunicorns_own_handle_error(exc):
    fake = SimpleNamespace(cfg=Config(), log=mock.Mock(), after_error_sent=lambda _client: None)
    theirs, ours = _Capture(), _Capture()
    Worker.handle_error(fake, None, theirs, ("127.0.0.1", 1), exc)
    gunicorn_worker.JsonErrors.handle_error(fake, None, ours, ("127.0.0.1", 1), exc)
    status = theirs.data.split(b" ", 2)[1]
    assert ours.data.split(b" ", 2)[1] == status
    head, _, body = ours.data.partition(b"\r\n\r\n")
    error = json.loads(body)["error"]
    assert error["code"] == gunicorn_worker.CODES[int(status)]
    assert headers_of(head)["x-request-id"] == [error["request_id"]]
    assert b"<html" not in ours.data


def test_llm_api_copy_is_the_same_code():
    def shared(path: str, end: str) -> str:
        text = (REPO_ROOT / path).read_text()
        return text[text.index("# The contract's code for each status"):text.index(end)].strip()

    assert shared("model-worker/model_worker/gunicorn_worker.py", "\nclass JsonErrorBufferingWorker") == shared(
        "llm-api/llm_api/gunicorn_worker.py", "\nclass JsonErrorGeventWorker")
    assert gunicorn_worker.JsonErrorBufferingWorker.__mro__[1] is gunicorn_worker.JsonErrors
