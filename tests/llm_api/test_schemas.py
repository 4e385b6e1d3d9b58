"""Edge validation of request bodies and queries (pure functions)."""

from __future__ import annotations

import base64

import pytest

from llm_api.errors import ApiError
from llm_api.schemas import (
    ChatOptions,
    decode_base64,
    parse_ask,
    parse_bool_field,
    parse_pull,
    parse_sessions_query,
)

DEFAULT = "default:model"


def bad(fn, *args) -> str:
    with pytest.raises(ApiError) as info:
        fn(*args)
    assert info.value.status == 400 and info.value.code == "bad_request"
    return info.value.message


def test_minimal_ask_gets_defaults():
    ask = parse_ask({"prompt": "hi"}, DEFAULT)
    assert (ask.prompt, ask.model, ask.session_id, ask.system, ask.stream) == ("hi", DEFAULT, None, None, False)
    assert ask.options == ChatOptions()


def test_full_ask():
    ask = parse_ask({"prompt": "こんにちは", "model": "omni", "session_id": "abc_DEF-1", "system": "be brief",
                     "options": {"temperature": 0.5, "top_p": 1, "max_tokens": 10, "seed": 42}, "stream": True},
                    DEFAULT)
    assert ask.model == "omni" and ask.session_id == "abc_DEF-1" and ask.stream is True
    assert ask.options.as_ollama() == {"temperature": 0.5, "top_p": 1.0, "num_predict": 10, "seed": 42}
    assert ask.options.as_contract() == {"temperature": 0.5, "top_p": 1.0, "max_tokens": 10, "seed": 42}


def test_prompt_length_counts_code_points():
    assert parse_ask({"prompt": "語" * 32_000}, DEFAULT).prompt == "語" * 32_000
    assert "longer than 32000" in bad(parse_ask, {"prompt": "語" * 32_001}, DEFAULT)


@pytest.mark.parametrize(("body", "field"), [
    ([], "object"), ("text", "object"), ({}, "prompt"), ({"prompt": None}, "prompt"), ({"prompt": 5}, "prompt"),
    ({"prompt": "  \n"}, "prompt"), ({"prompt": "x", "model": ""}, "model"), ({"prompt": "x", "model": 3}, "model"),
    ({"prompt": "x", "model": "has space"}, "model"), ({"prompt": "x", "session_id": "bad id"}, "session_id"),
    ({"prompt": "x", "session_id": "a" * 65}, "session_id"), ({"prompt": "x", "session_id": 12}, "session_id"),
    ({"prompt": "x", "system": 1}, "system"), ({"prompt": "x", "system": ""}, "system"),
    ({"prompt": "x", "stream": "yes"}, "stream"), ({"prompt": "x", "stream": 1}, "stream"),
    ({"prompt": "x", "options": []}, "options"), ({"prompt": "x", "options": {"temperature": 2.5}}, "temperature"),
    ({"prompt": "x", "options": {"temperature": -0.1}}, "temperature"),
    ({"prompt": "x", "options": {"temperature": "hot"}}, "temperature"),
    ({"prompt": "x", "options": {"temperature": True}}, "temperature"),
    ({"prompt": "x", "options": {"top_p": 1.01}}, "top_p"),
    ({"prompt": "x", "options": {"max_tokens": 0}}, "max_tokens"),
    ({"prompt": "x", "options": {"max_tokens": 8193}}, "max_tokens"),
    ({"prompt": "x", "options": {"max_tokens": 1.5}}, "max_tokens"),
    ({"prompt": "x", "options": {"seed": "1"}}, "seed"),
    ({"prompt": "x", "options": {"seed": 2**64}}, "seed"), ({"prompt": "x", "options": {"top_k": 3}}, "top_k"),
    ({"prompt": "x", "extra": 1}, "extra"),
])
def test_bad_ask_names_the_field(body, field):
    assert field in bad(parse_ask, body, DEFAULT)


def test_pull():
    assert parse_pull({"name": "llama3.2:1b"}).name == "llama3.2:1b"
    for body in ({}, {"name": ""}, {"name": 1}, {"name": "a b"}, {"name": "omni"}, {"name": "x", "y": 1}, []):
        bad(parse_pull, body)


def test_sessions_query():
    query = parse_sessions_query({})
    assert (query.limit, query.before) == (50, None)
    query = parse_sessions_query({"limit": "200", "before": "2026-01-02T03:04:05+09:00"})
    assert (query.limit, query.before) == (200, "2026-01-01T18:04:05.000000Z")
    assert parse_sessions_query({"before": "2026-01-02T03:04:05.5Z"}).before == "2026-01-02T03:04:05.500000Z"
    for args in ({"limit": "0"}, {"limit": "201"}, {"limit": "-1"}, {"limit": "ten"}, {"before": "yesterday"},
                 {"before": "2026-01-02T03:04:05"}, {"page": "2"}):
        bad(parse_sessions_query, args)


@pytest.mark.parametrize("args", [
    {"limit": "\u00b2"}, {"limit": "\u0661"},  # str.isdigit() is true for these, int() fails or reads 1
    {"before": "9999-12-31T23:59:59-23:59"}, {"before": "0001-01-01T00:00:00+14:00"},  # out of range in UTC
])
def test_sessions_query_odd_values_are_400_not_500(args):
    bad(parse_sessions_query, args)


def test_bool_field():
    assert parse_bool_field("f", None) is False and parse_bool_field("f", "") is False
    assert parse_bool_field("f", "TRUE") is True and parse_bool_field("f", "false") is False
    for value in ("yes", "1", "on"):
        bad(parse_bool_field, "f", value)


def test_base64():
    data = b"\x89PNG\r\n\x1a\nrest"
    assert decode_base64("image_base64", base64.b64encode(data).decode(), 100) == data
    assert decode_base64("image_base64", "data:image/png;base64," + base64.b64encode(data).decode(), 100) == data
    assert decode_base64("image_base64", base64.encodebytes(data * 10).decode(), 1000) == data * 10  # wrapped
    assert decode_base64("image_base64", " \n" + base64.b64encode(data).decode() + "\r\n", 100) == data
    bad(decode_base64, "image_base64", "not base64!!", 100)
    bad(decode_base64, "image_base64", "", 100)
    bad(decode_base64, "image_base64", 7, 100)
    with pytest.raises(ApiError) as info:
        decode_base64("image_base64", base64.b64encode(b"x" * 400).decode(), 100)
    assert info.value.status == 413
