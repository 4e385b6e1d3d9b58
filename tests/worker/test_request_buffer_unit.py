"""`RequestBuffer` without a server: where a request ends (Content-Length, chunked, none), what is refused (a head or
body too large, broken chunk framing), what is kept for the next request, and the trickle deadline."""

import pytest
from gunicorn.config import Config

from model_worker.request_buffer import MAX_HEAD_BYTES, MIN_BYTES_PER_S, ChunkedBodyEnd, RequestBuffer, Verdict

PEER = ("127.0.0.1", 40000)


def buffer(max_body_bytes: int = 1000, now: float = 0.0) -> RequestBuffer:
    return RequestBuffer(Config(), PEER, max_body_bytes=max_body_bytes, now=now, idle_timeout_s=5.0, timeout_s=30.0)


def feed_bytewise(buf: RequestBuffer, data: bytes) -> list[Verdict]:
    return [buf.feed(data[i:i + 1], now=0.0) for i in range(len(data))]


def spooled(buf: RequestBuffer) -> bytes:
    spool, size = buf.replay()
    data = spool.read()
    assert len(data) == size
    return data


def test_bodiless_request_is_whole_at_the_end_of_its_head():
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    buf = buffer()
    verdicts = feed_bytewise(buf, request)
    assert verdicts[:-1] == [Verdict.WAITING] * (len(request) - 1)
    assert verdicts[-1] is Verdict.COMPLETE
    assert spooled(buf) == request


def test_content_length_body_arriving_byte_by_byte_and_a_pipelined_request_kept_apart():
    request = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    following = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    buf = buffer()
    assert feed_bytewise(buf, request[:-1])[-1] is Verdict.WAITING
    assert buf.feed(request[-1:] + following, now=0.0) is Verdict.COMPLETE
    assert spooled(buf) == request
    assert buf.surplus == following


def test_chunked_body_split_anywhere_ends_where_its_framing_ends():
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
    request = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    for split in range(1, len(request)):
        buf = buffer()
        first = buf.feed(request[:split], now=0.0)
        assert first is Verdict.WAITING, split
        assert buf.feed(request[split:] + b"NEXT", now=0.0) is Verdict.COMPLETE, split
        assert spooled(buf) == request
        assert buf.surplus == b"NEXT"


@pytest.mark.parametrize("framing", [b"zz\r\nab\r\n", b"2\nab\r\n", b"2\r\nabXX", b"9" * 9000])
def test_broken_chunk_framing_is_handed_on_as_malformed(framing):
    buf = buffer()
    verdict = buf.feed(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + framing, now=0.0)
    assert verdict is Verdict.MALFORMED


def test_chunk_end_alone():
    end = ChunkedBodyEnd()
    assert end.feed(b"3\r\nabc\r") is None
    assert end.feed(b"\n0\r\n\r\nrest") == 6


def test_declared_body_over_the_limit_is_refused_before_it_arrives():
    buf = buffer(max_body_bytes=100)
    assert buf.feed(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", now=0.0) is Verdict.BODY_TOO_LARGE


def test_chunked_body_over_the_limit_is_refused_as_it_grows():
    buf = buffer(max_body_bytes=100)
    assert buf.feed(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", now=0.0) is Verdict.WAITING
    assert buf.feed(b"40\r\n" + b"a" * 64 + b"\r\n", now=0.0) is Verdict.WAITING
    assert buf.feed(b"40\r\n" + b"a" * 64 + b"\r\n", now=0.0) is Verdict.BODY_TOO_LARGE


def test_head_without_end_is_refused_past_max_head_bytes():
    buf = buffer()
    buf.feed(b"GET / HTTP/1.1\r\n", now=0.0)
    verdict = Verdict.WAITING
    while verdict is Verdict.WAITING:
        verdict = buf.feed(b"X-Filler: " + b"a" * 1000 + b"\r\n", now=0.0)
    assert verdict is Verdict.HEAD_TOO_LARGE
    assert len(buf.head) == MAX_HEAD_BYTES  # what the thread's parser reads: a head that does not end


def test_one_read_bringing_the_head_and_a_large_body_is_not_a_large_head():
    """A client sends its head and the first 256 KiB of body together: the head ends early, the request is whole."""
    body = b"x" * (4 * MAX_HEAD_BYTES)
    request = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    buf = buffer(max_body_bytes=len(body))
    assert buf.feed(request, now=0.0) is Verdict.COMPLETE
    assert spooled(buf) == request


def test_whole_head_ending_past_max_head_bytes_in_one_read_is_refused():
    fillers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(70))
    buf = buffer()
    assert buf.feed(b"GET / HTTP/1.1\r\n" + fillers + b"\r\n", now=0.0) is Verdict.HEAD_TOO_LARGE
    assert len(buf.head) == MAX_HEAD_BYTES


def test_malformed_request_line_is_handed_on_for_gunicorn_to_answer():
    assert buffer().feed(b"NOT A REQUEST\r\n\r\n", now=0.0) is Verdict.MALFORMED


def test_expect_continue_is_noticed():
    buf = buffer()
    buf.feed(b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", now=0.0)
    assert buf.expects_continue and buf.verdict is Verdict.WAITING


def test_deadlines_first_byte_then_silence_then_average_rate():
    buf = buffer(now=100.0)
    assert buf.deadline == 105.0  # idle: the first byte within idle_timeout_s
    buf.feed(b"P", now=101.0)
    assert buf.deadline == 131.0  # then at most timeout_s without a byte
    buf.feed(b"O", now=102.0)
    assert buf.deadline == pytest.approx(131.0 + 1 / MIN_BYTES_PER_S)  # a trickle earns only its bytes' worth
    buf.feed(b"S" * MIN_BYTES_PER_S * 10, now=103.0)
    assert buf.deadline == 133.0  # a fast sender is held to timeout_s of silence, no more


def test_gunicorn_internals_the_buffering_worker_relies_on_are_there():
    """buffered_gthread overrides or calls these pieces of gunicorn 27's gthread and parser: a gunicorn upgrade that
    moves them fails here, not in production."""
    import inspect

    import gunicorn
    from gunicorn.http.message import Request
    from gunicorn.http.unreader import IterUnreader
    from gunicorn.workers.gthread import TConn, ThreadWorker

    assert gunicorn.__version__.startswith("27."), gunicorn.__version__
    for name in ("accept", "enqueue_req", "handle", "handle_request", "murder_pending", "finish_request",
                 "init_process"):
        assert callable(getattr(ThreadWorker, name)), name
    assert list(inspect.signature(TConn.__init__).parameters)[1:5] == ["cfg", "sock", "client", "server"]
    request = Request(Config(), IterUnreader([b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                              b"Content-Length: 1\r\n\r\nx"]), PEER)
    assert request._expected_100_continue is True
    assert callable(IterUnreader([b""]).take_buffered)


def test_the_plain_buffering_worker_answers_its_413_as_json():
    """The base class's own rejection (the model-worker's subclass sends the contract's, with its headers)."""
    import json
    from http import HTTPStatus

    from model_worker.buffered_gthread import BufferingThreadWorker

    raw = BufferingThreadWorker.rejection(None, 413, "too large", "rid-1")  # type: ignore[arg-type]
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(f"HTTP/1.1 413 {HTTPStatus(413).phrase}\r\n".encode())
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"error": {"code": "payload_too_large", "message": "too large", "request_id": "rid-1"}}
