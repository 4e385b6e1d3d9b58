"""Bad input on every route of the real service: the contract's error shape and status, never a hang."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.llm_api.conftest import assert_error
from tests.support.raw_http import assert_bad_request, chunked_post, stalled_post


def post_raw(url: str, data: bytes | str, content_type: str | None = "application/json") -> requests.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(url, data=data, headers=headers, timeout=10)


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2", b"\xff\xfe"])
@pytest.mark.parametrize("path", ["/ask-llm", "/models/pull", "/detect-fields"])
def test_malformed_json_is_400(api, path, body):
    assert_error(post_raw(api.url + path, body), 400, "bad_request")


@pytest.mark.parametrize("body", [
    b"[" * 100_000,  # json's decoder raises RecursionError, not ValueError
    b'{"prompt": "\\ud800 x"}', b'{"prompt": "x", "\\udc00": 1}',  # lone surrogates: no UTF-8 can carry them
])
@pytest.mark.parametrize("path", ["/ask-llm", "/models/pull", "/detect-fields"])
def test_json_that_python_parses_but_cannot_use_is_400(api, path, body):
    assert_error(post_raw(api.url + path, body), 400, "bad_request")


def test_escaped_surrogate_pair_is_fine(api, ollama):
    response = post_raw(api.url + "/ask-llm", b'{"prompt": "\\ud83d\\ude00 hi"}')
    assert response.status_code == 200, response.text
    assert "\U0001f600" in response.json()["answer"]


@pytest.mark.parametrize("path", ["/ask-llm", "/models/pull"])
def test_json_routes_want_json(api, path):
    assert_error(post_raw(api.url + path, '{"prompt": "x"}', "text/plain"), 415, "unsupported_media_type")
    assert_error(post_raw(api.url + path, '{"prompt": "x"}', None), 415, "unsupported_media_type")


@pytest.mark.parametrize(("body", "field"), [
    ([1, 2], "object"), ({}, "prompt"), ({"prompt": 1}, "prompt"), ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"), ({"prompt": "x" * 32_001}, "32000"), ({"prompt": "x", "model": 5}, "model"),
    ({"prompt": "x", "model": "a b"}, "model"), ({"prompt": "x", "session_id": "../etc"}, "session_id"),
    ({"prompt": "x", "session_id": ""}, "session_id"), ({"prompt": "x", "system": ["a"]}, "system"),
    ({"prompt": "x", "stream": "true"}, "stream"), ({"prompt": "x", "options": "hot"}, "options"),
    ({"prompt": "x", "options": {"temperature": 3}}, "temperature"),
    ({"prompt": "x", "options": {"top_p": -1}}, "top_p"),
    ({"prompt": "x", "options": {"max_tokens": 100_000}}, "max_tokens"),
    ({"prompt": "x", "options": {"seed": 1.5}}, "seed"), ({"prompt": "x", "options": {"mirostat": 1}}, "mirostat"),
    ({"prompt": "x", "tools": []}, "tools"),
])
def test_ask_llm_bad_fields(api, body, field):
    err = assert_error(requests.post(api.url + "/ask-llm", json=body, timeout=10), 400, "bad_request")
    assert field in err["message"]


def test_ask_llm_unknown_session_is_404(api):
    assert_error(requests.post(api.url + "/ask-llm", json={"prompt": "x", "session_id": "nope"}, timeout=10),
                 404, "not_found")


def test_prompt_of_exactly_the_limit_is_accepted(api, ollama):
    response = requests.post(api.url + "/ask-llm", json={"prompt": "語" * 32_000}, timeout=30)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/ask-llm", "/models/pull"])
def test_body_over_one_mib_is_413(api, path):
    body = '{"prompt": "' + "x" * (1024 * 1024 + 10) + '"}'
    assert_error(post_raw(api.url + path, body), 413, "payload_too_large")


def test_chunked_body_over_one_mib_is_413(api):
    def chunks():
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'
    response = requests.post(api.url + "/ask-llm", data=chunks(), headers={"Content-Type": "application/json"},
                             timeout=10)
    assert_error(response, 413, "payload_too_large")


def test_chunked_body_of_exactly_one_mib_is_accepted(api, ollama):
    body = b'{"prompt": "hi"' + b" " * (1024 * 1024 - 16) + b"}"
    assert len(body) == 1024 * 1024

    def chunks():
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]
    response = requests.post(api.url + "/ask-llm", data=chunks(), headers={"Content-Type": "application/json"},
                             timeout=10)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("body", "message"), [
    ({}, "name"), ({"name": ""}, "name"), ({"name": 3}, "name"), ({"name": "has space"}, "name"),
    ({"name": "omni"}, "omni"), ({"name": "x", "insecure": True}, "insecure"), ("x", "object"),
])
def test_pull_bad_fields(api, body, message):
    err = assert_error(requests.post(api.url + "/models/pull", json=body, timeout=10), 400, "bad_request")
    assert message in err["message"]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"before": "yesterday"},
                                   {"before": "2026-01-01T00:00:00"}, {"offset": "3"}])
def test_sessions_bad_query(api, query):
    assert_error(requests.get(api.url + "/sessions", params=query, timeout=10), 400, "bad_request")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_bad_session_id(api, method):
    assert_error(requests.request(method, api.url + "/sessions/bad%20id", timeout=10), 400, "bad_request")
    assert_error(requests.request(method, api.url + "/sessions/" + "a" * 65, timeout=10), 400, "bad_request")
    assert_error(requests.request(method, api.url + "/sessions/unknown-session", timeout=10), 404, "not_found")


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/nope"), ("POST", "/ask"),
                                              ("GET", "/sessions/a/b"), ("PUT", "/v2/chat/completions")])
def test_unknown_route_is_json_404(api, method, path):
    assert_error(requests.request(method, api.url + path, timeout=10), 404, "not_found")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/ask-llm"), ("PUT", "/ask-llm"), ("POST", "/models"), ("GET", "/models/pull"),
    ("POST", "/sessions"), ("DELETE", "/sessions"), ("POST", "/sessions/abc"), ("PATCH", "/sessions/abc"),
    ("POST", "/healthz"), ("DELETE", "/readyz"), ("GET", "/voice-feedback"), ("GET", "/detect-fields"),
])
def test_wrong_method_is_json_405(api, method, path):
    response = requests.request(method, api.url + path, timeout=10)
    assert_error(response, 405, "method_not_allowed")
    assert "Allow" in response.headers


def test_half_sent_body_does_not_hang_the_server(api):
    """A client that promises a body and never sends it gets cut off; the service keeps serving."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(b"POST /ask-llm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"prompt\":")
        assert requests.get(api.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(("path", "content_type"), [("/ask-llm", "application/json"),
                                                    ("/voice-feedback", "multipart/form-data; boundary=b")])
def test_stalled_body_is_answered_400_after_body_timeout(api_fast_timeout, path, content_type):
    """A client that stops sending its body does not hold a worker forever: after BODY_TIMEOUT_S (1 s here) it gets
    the contract's 400 with the usual headers."""
    head, body = stalled_post(api_fast_timeout.port, path, content_type, request_id="stall-1")
    assert_bad_request(head, body, "stall-1")


@pytest.mark.parametrize("chunks", [b"zz\r\n", b"5\r\nabcdeXX"])
@pytest.mark.parametrize(("path", "content_type"), [("/ask-llm", "application/json"),
                                                    ("/detect-fields", "multipart/form-data; boundary=b")])
def test_broken_chunked_body_is_400(api, path, content_type, chunks):
    head, body = chunked_post(api.port, path, content_type, chunks, request_id="chunk-1")
    assert_bad_request(head, body, "chunk-1")
