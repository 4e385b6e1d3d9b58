"""The llm-api's API key, CORS origins and request ids against bypass attempts, over raw sockets where a library
client would normalise what is sent. Most of these held before they were written; they document it. Found and
fixed: an OPTIONS without `Access-Control-Request-Method` (not a preflight) was answered 204, with the full
preflight headers for an allowed origin, without the API key; a CR or LF in `X-Request-ID` got gunicorn's HTML 400
with no request id at all."""

from __future__ import annotations

import pytest
import requests

from tests.llm_api.conftest import API_KEY, assert_error
from tests.llm_api.gunicorn_rejections import REQUEST_IDS, assert_request_id_handled, headers_of
from tests.support.raw_http import raw_exchange

KEY = API_KEY.encode()


def raw(line: bytes, *headers: bytes) -> bytes:
    return b"\r\n".join([line, b"Host: x", b"Connection: close", *headers]) + b"\r\n\r\n"


def assert_unauthorized(head: bytes, body: dict) -> None:
    assert head.startswith(b"HTTP/1.1 401 "), head
    assert body["error"]["code"] == "unauthorized"
    assert headers_of(head)["x-request-id"] == [body["error"]["request_id"]]
    assert "sessions" not in body


# Each must be 401 on an API_KEY service: wrong keys whatever the header's case or the scheme's spelling, keys in
# the wrong place, and paths that only look like the open /healthz and /readyz.
REJECTED = {
    "no_authorization": raw(b"GET /sessions HTTP/1.1"),
    "lowercase_header_wrong_key": raw(b"GET /sessions HTTP/1.1", b"authorization: Bearer wrong"),
    "uppercase_header_wrong_key": raw(b"GET /sessions HTTP/1.1", b"AUTHORIZATION: BEARER wrong"),
    "lowercase_bearer_wrong_key": raw(b"GET /sessions HTTP/1.1", b"Authorization: bearer wrong"),
    "key_prefix": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer " + KEY[:-1]),
    "key_extended": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer " + KEY + b"4"),
    "key_then_more": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer " + KEY + b" extra"),
    "key_then_comma": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer " + KEY + b","),
    "no_space_after_bearer": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer" + KEY),
    "tab_after_bearer": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer\t" + KEY),
    "key_without_scheme": raw(b"GET /sessions HTTP/1.1", b"Authorization: " + KEY),
    "basic_scheme": raw(b"GET /sessions HTTP/1.1", b"Authorization: Basic " + KEY),
    "wrong_then_right_header": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer wrong",
                                   b"Authorization: Bearer " + KEY),
    "right_then_wrong_header": raw(b"GET /sessions HTTP/1.1", b"Authorization: Bearer " + KEY,
                                   b"Authorization: Bearer wrong"),
    "x_api_key_header": raw(b"GET /sessions HTTP/1.1", b"X-API-Key: " + KEY),
    "proxy_authorization": raw(b"GET /sessions HTTP/1.1", b"Proxy-Authorization: Bearer " + KEY),
    "query_api_key": raw(b"GET /sessions?api_key=" + KEY + b" HTTP/1.1"),
    "query_token_and_authorization": raw(b"GET /sessions?access_token=" + KEY + b"&key=" + KEY
                                         + b"&Authorization=Bearer%20" + KEY + b" HTTP/1.1"),
    "method_override_header": raw(b"POST /sessions HTTP/1.1", b"X-HTTP-Method-Override: OPTIONS",
                                  b"X-Method-Override: OPTIONS", b"Content-Length: 0"),
    "double_slash": raw(b"GET //sessions HTTP/1.1"),
    "dot_dot_from_healthz": raw(b"GET /healthz/../sessions HTTP/1.1"),
    "dot_segment": raw(b"GET /./sessions HTTP/1.1"),
    "percent_encoded_path": raw(b"GET /%73essions HTTP/1.1"),
    "absolute_form_target": raw(b"GET http://x/sessions HTTP/1.1"),
    "uppercase_healthz": raw(b"GET /HEALTHZ HTTP/1.1"),
    "healthz_trailing_slash": raw(b"GET /healthz/ HTTP/1.1"),
    "readyz_subpath": raw(b"GET /readyz/x HTTP/1.1"),
    "delete_session": raw(b"DELETE /sessions/abc HTTP/1.1"),
    "options_asterisk": raw(b"OPTIONS * HTTP/1.1"),
    "options_without_preflight_header": raw(b"OPTIONS /sessions HTTP/1.1"),
    "options_from_allowed_origin_not_preflight": raw(b"OPTIONS /ask-llm HTTP/1.1", b"Origin: http://localhost:3000"),
}


@pytest.mark.parametrize("request_bytes", REJECTED.values(), ids=REJECTED.keys())
def test_no_bypass_of_the_api_key(api_auth, request_bytes):
    head, body = raw_exchange(api_auth.port, request_bytes)
    assert_unauthorized(head, body)


def test_options_that_is_not_a_preflight_gets_no_preflight_headers(api_auth):
    head, body = raw_exchange(api_auth.port, REJECTED["options_from_allowed_origin_not_preflight"])
    assert_unauthorized(head, body)
    fields = headers_of(head)
    assert fields["access-control-allow-origin"] == ["http://localhost:3000"]  # the browser may read the 401
    assert "access-control-allow-methods" not in fields and "access-control-max-age" not in fields


# The right key is accepted in the spellings RFC 9110 allows: any case of the field name and of the scheme,
# and optional whitespace around the key.
ACCEPTED = {
    "lowercase_header": b"authorization: Bearer " + KEY,
    "lowercase_bearer": b"Authorization: bearer " + KEY,
    "uppercase_bearer": b"Authorization: BEARER " + KEY,
    "two_spaces": b"Authorization: Bearer  " + KEY,
    "trailing_spaces": b"Authorization: Bearer " + KEY + b"  ",
}


@pytest.mark.parametrize("header", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_right_key_accepted(api_auth, header):
    head, body = raw_exchange(api_auth.port, raw(b"GET /sessions HTTP/1.1", header))
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert "sessions" in body


def test_head_and_plain_options_need_the_key(api_auth):
    head = requests.head(api_auth.url + "/sessions", timeout=5)
    assert head.status_code == 401 and head.content == b"" and head.headers["X-Request-ID"]
    auth = {"Authorization": f"Bearer {API_KEY}"}
    assert requests.head(api_auth.url + "/sessions", headers=auth, timeout=5).status_code == 200
    assert_error(requests.options(api_auth.url + "/sessions", timeout=5), 401, "unauthorized")
    assert requests.options(api_auth.url + "/sessions", headers=auth, timeout=5).status_code == 204
    preflight = requests.options(api_auth.url + "/sessions", timeout=5, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204  # a preflight needs no key (the contract): the browser sends none
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


LOOK_ALIKES = ["null", "http://localhost:3000.evil.com", "http://localhost:30000", "https://localhost:3000",
               "http://localhost:300", "http://localhost", "http://localhost:3000/", "http://evil.localhost:3000",
               "http://localhost:3000@evil.com", "http://127.0.0.1:3000.evil.com", "http://127.0.0.1:30000",
               "http://localhost:3000, http://evil.example"]


@pytest.mark.parametrize("origin", LOOK_ALIKES)
def test_look_alike_origins_get_no_cors_headers(api, origin):
    for method, path, extra in (("OPTIONS", "/ask-llm", {"Access-Control-Request-Method": "POST",
                                                           "Access-Control-Request-Headers": "content-type"}),
                                ("OPTIONS", "/sessions", {}), ("GET", "/healthz", {}), ("GET", "/sessions", {}),
                                ("GET", "/no/such/route", {}), ("POST", "/ask-llm", {})):
        response = requests.request(method, api.url + path, headers={"Origin": origin, **extra}, timeout=10)
        assert response.status_code < 500, (method, path, response.status_code)
        cors = [name for name in response.headers if name.lower().startswith("access-control-")]
        assert cors == [], (method, path, cors)
        assert "origin" in response.headers["Vary"].lower()


@pytest.mark.parametrize(("request_id", "status", "echoed"), [case[1:] for case in REQUEST_IDS],
                         ids=[case[0] for case in REQUEST_IDS])
def test_request_id_that_is_oversized_or_holds_a_line_break_is_replaced(api, request_id, status, echoed):
    assert_request_id_handled(api.port, request_id, status, echoed)
