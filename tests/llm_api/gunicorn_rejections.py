"""Raw requests that gunicorn itself rejects before either app runs, and the checks on its answers.

Shared by `tests/llm_api/test_service_server_errors.py` and `tests/worker/test_service_server_errors.py`: both
services run gunicorn 27 (gevent and gthread workers) with a worker subclass whose `handle_error` answers these
in the contract's JSON error shape (`llm_api/gunicorn_worker.py`, `model_worker/gunicorn_worker.py`).
"""

from __future__ import annotations

import json
import re
import socket

from tests.support.raw_http import raw_exchange

CALLER_ID = "caller-id-1"  # sent where gunicorn reads the headers: its rejections must not echo it
FRESH_ID = re.compile(r"^[0-9a-f]{32}$")


def _get(line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    head = [line, b"Host: x", b"X-Request-ID: " + CALLER_ID.encode(), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _post(*headers: bytes, body: bytes = b"") -> bytes:
    return _get(b"POST /healthz HTTP/1.1", *headers, body=body)


# (case, raw request, status, contract code). 414 and 431 keep their HTTP status with the contract's
# `payload_too_large` (the request is over a size limit, like 413); 417 and 501 keep theirs with `bad_request`
# (the contract has no code of its own for them).
CASES: list[tuple[str, bytes, int, str]] = [
    ("request_line_too_long", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "payload_too_large"),
    ("request_line_far_too_long", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     "payload_too_large"),
    ("too_many_headers", _get(b"GET /healthz HTTP/1.1", *(b"X-H%d: v" % i for i in range(120))), 431,
     "payload_too_large"),
    ("header_too_large", _get(b"GET /healthz HTTP/1.1", b"X-Big: " + b"v" * 9000), 431, "payload_too_large"),
    ("headers_far_too_large", _get(b"GET /healthz HTTP/1.1", b"X-Big: " + b"v" * 100_000), 431,
     "payload_too_large"),
    ("garbage_request_line", b"GARBAGE\r\n\r\n", 400, "bad_request"),
    ("request_line_without_version", _get(b"GET /healthz"), 400, "bad_request"),
    ("request_line_extra_part", _get(b"GET /healthz HTTP/1.1 extra"), 400, "bad_request"),
    ("invalid_method", _get(b"G@T /healthz HTTP/1.1"), 400, "bad_request"),
    ("control_character_in_target", _get(b"GET /a\x01b HTTP/1.1"), 400, "bad_request"),
    ("http_version_2", _get(b"GET /healthz HTTP/2.0"), 400, "bad_request"),
    ("http_version_garbage", _get(b"GET /healthz HTTP/x.y"), 400, "bad_request"),
    ("content_length_not_a_number", _post(b"Content-Length: abc"), 400, "bad_request"),
    ("content_length_negative", _post(b"Content-Length: -1"), 400, "bad_request"),
    ("content_length_twice", _post(b"Content-Length: 1", b"Content-Length: 2", body=b"ab"), 400, "bad_request"),
    ("content_length_and_chunked", _post(b"Content-Length: 3", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
     400, "bad_request"),
    ("transfer_encoding_not_ending_in_chunked", _post(b"Transfer-Encoding: gzip"), 400, "bad_request"),
    ("transfer_encoding_unknown", _post(b"Transfer-Encoding: foo"), 501, "bad_request"),
    ("header_name_with_space", _get(b"GET /healthz HTTP/1.1", b"Bad Header: v"), 400, "bad_request"),
    ("header_without_colon", _get(b"GET /healthz HTTP/1.1", b"NoColonHere"), 400, "bad_request"),
    ("obsolete_line_folding", _get(b"GET /healthz HTTP/1.1", b"X-A: a", b" folded"), 400, "bad_request"),
    ("bare_lf_line_endings", b"GET /healthz HTTP/1.1\nHost: x\n\n", 400, "bad_request"),
    ("nul_in_header_value", _get(b"GET /healthz HTTP/1.1", b"X-A: a\x00b"), 400, "bad_request"),
    ("expect_other_than_100_continue", _post(b"Expect: 200-ok", b"Content-Length: 0"), 417, "bad_request"),
]

# (case, X-Request-ID bytes as sent, expected status, echoed value or None for a fresh id). A CR or LF inside the
# value (bare, or CRLF + space: obsolete folding) is refused by gunicorn (400, fresh id); anything else that does
# not match [A-Za-z0-9._:-]{1,128} is replaced by the app.
REQUEST_IDS: list[tuple[str, bytes, int, str | None]] = [
    ("valid_128_chars", b"a" * 128, 200, "a" * 128),
    ("oversized_129_chars", b"a" * 129, 200, None),
    ("oversized_4000_chars", b"a" * 4000, 200, None),
    ("percent_encoded_crlf", b"abc%0D%0ASet-Cookie:%20x=1", 200, None),
    ("bare_cr", b"abc\rSet-Cookie: x=1", 400, None),
    ("bare_lf", b"abc\nSet-Cookie: x=1", 400, None),
    ("crlf_then_space_obs_fold", b"abc\r\n Set-Cookie: x=1", 400, None),
    ("latin1_next_line", b"abc\x85Set-Cookie: x=1", 200, None),
    ("utf8_line_separator", "abc\u2028Set-Cookie: x=1".encode(), 200, None),
    ("space_inside", b"abc Set-Cookie", 200, None),
    ("crlf_ends_the_field", b"abc\r\nSet-Cookie: x=1", 200, "abc"),  # a header of its own, never answered
]


def headers_of(head: bytes) -> dict[str, list[str]]:
    """Response header fields by lowercased name (every value kept)."""
    fields: dict[str, list[str]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


def assert_json_rejection(head: bytes, body: dict, status: int, code: str) -> str:
    """gunicorn's rejection as the contract's error: status, JSON shape, fresh id in body and header, close."""
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    fields = headers_of(head)
    assert fields["content-type"] == ["application/json"], head
    assert fields["connection"] == ["close"], head
    assert fields["server-timing"][0].startswith("total;dur="), head
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"].endswith("."), body
    assert fields["x-request-id"] == [error["request_id"]], head
    assert FRESH_ID.match(error["request_id"]) and error["request_id"] != CALLER_ID, body
    assert int(fields["content-length"][0]) == len(json.dumps(body, separators=(",", ":")).encode()), head
    return error["request_id"]


def read_until_closed(port: int, request: bytes, timeout_s: float = 10.0) -> bytes:
    """Everything the server sends for `request` until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        reply = b""
        while data := sock.recv(65536):
            reply += data
    return reply


def request_id_probe(request_id: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-ID: " + request_id + b"\r\n\r\n"


def assert_request_id_handled(port: int, request_id: bytes, status: int, echoed: str | None) -> None:
    head, body = raw_exchange(port, request_id_probe(request_id))
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    fields = headers_of(head)
    assert "set-cookie" not in fields, head
    assert len(fields["x-request-id"]) == 1, head
    sent = fields["x-request-id"][0]
    if echoed is not None:
        assert sent == echoed
    else:
        assert FRESH_ID.match(sent), head
    if status != 200:
        assert assert_json_rejection(head, body, status, "bad_request") == sent
