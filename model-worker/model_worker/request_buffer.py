"""One HTTP/1.1 request buffered as its bytes arrive, before any thread sees it (nginx's request buffering).

`RequestBuffer.feed` takes whatever a non-blocking read returned and says whether the request is whole yet. The
head is parsed by gunicorn's own `Request` class (over the bytes held so far), so what counts as a complete or a
malformed head, and the body's framing (Content-Length, chunked, Expect: 100-continue), is gunicorn's decision; a
head gunicorn rejects is handed on at once and rejected again, in a thread, by gunicorn itself. The body is counted
(Content-Length) or its chunk framing followed (`ChunkedBodyEnd`), up to `max_body_bytes`, into a spool file that
keeps the first SPOOL_MEMORY_BYTES in memory. Bytes that arrive after the request (a pipelined next one) are kept
apart as `surplus`.

Deadlines (mod_reqtimeout's rule, nginx's timeouts): the first byte must come within `idle_timeout_s`; after it the
request must keep arriving, at most `timeout_s` without a byte and at least MIN_BYTES_PER_S on average once
`timeout_s` has passed, so a client that trickles one byte a second is cut off as surely as one that stops.
"""

from __future__ import annotations

import enum
import tempfile
from typing import BinaryIO

from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.http.message import Request
from gunicorn.http.unreader import IterUnreader

MAX_HEAD_BYTES = 64 * 1024  # gunicorn allows 4094 bytes of request line and 100 fields of 8190: a head over this
# much is all but certainly an attack, and it is what one connection may hold in memory while its head arrives.
SPOOL_MEMORY_BYTES = 256 * 1024  # a body beyond this is spooled to a temporary file, like nginx's
MIN_BYTES_PER_S = 16 * 1024
MAX_CHUNK_LINE_BYTES = 8192  # gunicorn's chunk-size line limit (limit_request_field_size)
MAX_TRAILER_BYTES = 64 * 1024


class Verdict(enum.Enum):
    WAITING = "waiting"  # more bytes are needed
    COMPLETE = "complete"  # the whole request is buffered
    MALFORMED = "malformed"  # gunicorn will reject what is buffered: hand it over now
    HEAD_TOO_LARGE = "head_too_large"  # no end of the head within MAX_HEAD_BYTES
    BODY_TOO_LARGE = "body_too_large"  # the body is over max_body_bytes (413)


class ChunkedBodyEnd:
    """Follows a chunked body's framing as it arrives, to find where it ends; raises ValueError where the framing is
    broken (gunicorn's ChunkedReader then reports exactly how)."""

    def __init__(self) -> None:
        self.state = "size"  # "size" line, chunk "data", its "crlf", or the "trailers"
        self.line = bytearray()
        self.left = 0

    def feed(self, data: bytes) -> int | None:
        """The index in `data` just past the body's end, or None while the body continues."""
        pos = 0
        while pos < len(data):
            if self.state == "data":
                taken = min(self.left, len(data) - pos)
                pos, self.left = pos + taken, self.left - taken
                if not self.left:
                    self.state, self.line = "crlf", bytearray()
            elif self.state == "crlf":
                needed = 2 - len(self.line)
                self.line += data[pos:pos + needed]
                pos += min(needed, len(data) - pos)
                if len(self.line) == 2:
                    if self.line != b"\r\n":
                        raise ValueError("chunk data not followed by CRLF")
                    self.state, self.line = "size", bytearray()
            elif self.state == "size":
                pos = self._size_line(data, pos)
            else:
                return self._trailers(data, pos)
        return None

    def _size_line(self, data: bytes, pos: int) -> int:
        end = data.find(b"\n", pos)
        self.line += data[pos:] if end < 0 else data[pos:end + 1]
        if len(self.line) > MAX_CHUNK_LINE_BYTES:
            raise ValueError("chunk-size line too long")
        if end < 0:
            return len(data)
        if not self.line.endswith(b"\r\n"):
            raise ValueError("bare LF after a chunk size")
        digits = bytes(self.line[:-2]).split(b";", 1)[0].rstrip(b" \t")
        if not digits or digits.strip(b"0123456789abcdefABCDEF"):
            raise ValueError("chunk size is not hexadecimal")
        self.left = int(digits, 16)
        self.state, self.line = ("data" if self.left else "trailers"), bytearray()
        return end + 1

    def _trailers(self, data: bytes, pos: int) -> int | None:
        searched = max(0, len(self.line) - 3)
        self.line += data[pos:]
        if self.line.startswith(b"\r\n"):
            return len(data) - (len(self.line) - 2)
        end = self.line.find(b"\r\n\r\n", searched)
        if end >= 0:
            return len(data) - (len(self.line) - end - 4)
        if len(self.line) > MAX_TRAILER_BYTES:
            raise ValueError("trailer section too long")
        return None


class RequestBuffer:
    """The bytes of one request on one connection, from its first byte until it is whole (or refused)."""

    def __init__(self, cfg, peer_addr, *, max_body_bytes: int, now: float, idle_timeout_s: float,
                 timeout_s: float) -> None:
        self.cfg, self.peer_addr = cfg, peer_addr
        self.max_body_bytes, self.timeout_s = max_body_bytes, timeout_s
        self.deadline = now + idle_timeout_s
        self.head = bytearray()
        self.spool: BinaryIO | None = None  # head and body, once the head is whole
        self.size = 0  # bytes in the spool
        self.body_left: int | None = None  # Content-Length bytes still to come
        self.chunked: ChunkedBodyEnd | None = None
        self.body_bytes = 0
        self.expects_continue = False
        self.surplus = b""
        self.verdict = Verdict.WAITING

    @property
    def started(self) -> bool:
        return bool(self.head)

    @property
    def in_body(self) -> bool:
        return self.spool is not None

    def feed(self, data: bytes, now: float) -> Verdict:
        """Take the bytes one read returned (never empty) and say where the request stands."""
        self.deadline = now + self.timeout_s if not self.started else min(
            now + self.timeout_s, self.deadline + len(data) / MIN_BYTES_PER_S)
        if self.verdict is not Verdict.WAITING:
            self.surplus += data
        elif not self.in_body:
            self._feed_head(data)
        else:
            self._feed_body(data)
        return self.verdict

    def _feed_head(self, data: bytes) -> None:
        tail = bytes(self.head[-3:])
        self.head += data
        if b"\n\n" in tail + data or b"\n\r\n" in tail + data:  # an empty line: perhaps the head's end
            self._parse_head()
        # one read may bring the head and much of the body: only a head that has not ended is too large
        if not self.in_body and self.verdict is Verdict.WAITING and len(self.head) > MAX_HEAD_BYTES:
            self.verdict = Verdict.HEAD_TOO_LARGE
            del self.head[MAX_HEAD_BYTES:]  # the thread's parser reads a head that does not end, and answers 431

    def _parse_head(self) -> None:
        """gunicorn parses the head held so far: incomplete (wait), rejected (hand over), or whole."""
        unreader = IterUnreader([bytes(self.head)])
        try:
            request = Request(self.cfg, unreader, self.peer_addr)
        except (NoMoreData, StopIteration):
            return
        except Exception:  # gunicorn rejects it: in the thread it will again, and answer
            self.verdict = Verdict.MALFORMED
            return
        after_head = unreader.buf.getvalue()
        head = bytes(self.head[:len(self.head) - len(after_head)])
        if len(head) > MAX_HEAD_BYTES:  # whole, but it ended past the limit
            return
        self.head = bytearray(head)
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 (closed by close())
        self._write(head)
        reader = request.body.reader
        if isinstance(reader, ChunkedReader):
            self.chunked = ChunkedBodyEnd()
        elif isinstance(reader, LengthReader):
            self.body_left = reader.length
            if reader.length > self.max_body_bytes:
                self.verdict = Verdict.BODY_TOO_LARGE
                return
        self.expects_continue = request._expected_100_continue  # gunicorn 27: set while parsing Expect
        self._feed_body(after_head)

    def _feed_body(self, data: bytes) -> None:
        if self.chunked is not None:
            try:
                end = self.chunked.feed(data)
            except ValueError:
                self._write(data)
                self.verdict = Verdict.MALFORMED
                return
        else:
            end = self.body_left if len(data) >= (self.body_left or 0) else None
            self.body_left = max(0, (self.body_left or 0) - len(data))
        body, self.surplus = (data, b"") if end is None else (data[:end], data[end:])
        self._write(body)
        self.body_bytes += len(body)
        if self.body_bytes > self.max_body_bytes:
            self.verdict = Verdict.BODY_TOO_LARGE
        elif end is not None:
            self.verdict = Verdict.COMPLETE

    def _write(self, data: bytes) -> None:
        if data:
            assert self.spool is not None
            self.spool.write(data)
            self.size += len(data)

    def replay(self) -> tuple[BinaryIO, int]:
        """What the thread's parser reads: the spool from its start (the head alone before it is whole)."""
        if self.spool is None:
            self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 (closed by close())
            self._write(bytes(self.head))
        self.spool.seek(0)
        return self.spool, self.size

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
