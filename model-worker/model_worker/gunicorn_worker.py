"""The model-worker's gunicorn worker: gthread with request buffering (`buffered_gthread`: a thread only ever gets a
whole request, so clients trickling headers or bodies hold no thread), answering its own rejections as JSON.

gunicorn answers a request it cannot parse (request line over `limit_request_line`: 414; too many or too large
headers: 431; a malformed request line, method, HTTP version, header, Content-Length or Transfer-Encoding: 400;
an Expect it cannot meet: 417; an unknown transfer coding: 501) itself, before the app runs, with an HTML page
(`gunicorn/workers/base.py` `handle_error` -> `util.write_error`). `JsonErrors.handle_error` keeps gunicorn's
status for each of them and sends `{"error": {"code", "message", "request_id"}}` instead, with a fresh request id
(also in `X-Request-ID` and the log line), `Server-Timing`, `Content-Type: application/json` and
`Connection: close`. The message is fixed per kind of error: none of the client's bytes are echoed. The worker
closes the connection gracefully (half-close, then drain) after it. The llm-api has the same `JsonErrors` in
`llm_api/gunicorn_worker.py` (the two images share no package; a test checks that the copies agree).
"""

from __future__ import annotations

import contextlib
import http
import json
import time
import uuid
from datetime import datetime
from ssl import SSLError

from gunicorn import util
from gunicorn.http import errors as gerrors
from gunicorn.http.wsgi import Response, default_environ

from .buffered_gthread import BufferingThreadWorker
from .config import ConfigError, WorkerConfig

# The contract's code for each status gunicorn answers itself (414 and 431 are "too large" like 413; the
# contract has no code for 403, 417 or 501, so they are the client's fault: bad_request).
CODES = {400: "bad_request", 403: "bad_request", 413: "payload_too_large", 414: "payload_too_large",
         417: "bad_request", 431: "payload_too_large", 500: "internal", 501: "bad_request"}

# gunicorn 27's client errors (workers/base.py handle_error) with their status and a fixed message; the first
# matching class wins, so subclasses come before their bases. Anything else is gunicorn's 500.
_CLIENT_ERRORS: tuple[tuple[tuple[type[BaseException], ...], int, str], ...] = (
    ((gerrors.InvalidResponseHeader, gerrors.InvalidResponseHeaderName), 500, ""),
    ((gerrors.LimitRequestLine,), 414, "The request line is longer than this server accepts ({line} bytes)."),
    ((gerrors.LimitRequestHeaders,), 431,
     "The request has too many headers or too large ones (at most {fields} fields of {field_size} bytes)."),
    ((gerrors.InvalidRequestLine,), 400, "The request line is malformed."),
    ((gerrors.InvalidRequestMethod,), 400, "The request method is not a valid HTTP method."),
    ((gerrors.InvalidHTTPVersion,), 400, "The HTTP version is not supported (HTTP/1.0 and HTTP/1.1 are)."),
    ((gerrors.ObsoleteFolding,), 400, "A request header is folded over several lines, which is not accepted."),
    ((gerrors.InvalidHeaderName,), 400, "A request header name is malformed."),
    ((gerrors.InvalidHeader,), 400, "A request header is malformed."),
    ((gerrors.InvalidChunkSize, gerrors.ChunkMissingTerminator, gerrors.InvalidChunkExtension), 400,
     "The chunked request body is malformed."),
    ((gerrors.UnsupportedTransferCoding,), 501, "The request's Transfer-Encoding is not supported; send chunked."),
    ((gerrors.ExpectationFailed,), 417, "The request's Expect header cannot be met (only 100-continue is)."),
    ((gerrors.InvalidSchemeHeaders,), 400, "The request's scheme headers contradict each other."),
    ((gerrors.InvalidProxyLine,), 400, "The PROXY protocol line is malformed."),
    ((gerrors.ForbiddenProxyRequest,), 403, "PROXY protocol requests are not allowed from this address."),
    ((gerrors.InvalidH2CPreface,), 400, "The HTTP/2 connection preface is malformed."),
    ((gerrors.ConfigurationProblem,), 500, ""),
    ((SSLError,), 403, "The TLS handshake failed."),
)
_FRAMING_HEADERS = {"CONTENT-LENGTH": "Content-Length", "TRANSFER-ENCODING": "Transfer-Encoding"}
INTERNAL_MESSAGE = "An unexpected error occurred in the server; see its log."


def classify(exc: BaseException, cfg) -> tuple[int, str, bool]:
    """(status, message, client_error) for an exception gunicorn's `handle_error` received."""
    for classes, status, message in _CLIENT_ERRORS:
        if isinstance(exc, classes):
            if status == 500:
                return 500, INTERNAL_MESSAGE, isinstance(exc, gerrors.ConfigurationProblem)
            header = _FRAMING_HEADERS.get(str(getattr(exc, "hdr", "")).upper())
            if isinstance(exc, gerrors.InvalidHeader) and header:
                message = f"The request's {header} header is invalid or contradicts the message framing."
            return status, message.format(line=cfg.limit_request_line, fields=cfg.limit_request_fields,
                                          field_size=cfg.limit_request_field_size), True
    return 500, INTERNAL_MESSAGE, False


def error_response(status: int, message: str, request_id: str, elapsed_ms: float = 0.0) -> bytes:
    """The complete HTTP/1.1 response gunicorn sends in place of its HTML page."""
    body = json.dumps({"error": {"code": CODES.get(status, "bad_request" if status < 500 else "internal"),
                                 "message": message, "request_id": request_id}}, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Request-ID: {request_id}\r\n"
            f"Server-Timing: total;dur={elapsed_ms:.1f}\r\n\r\n")
    return head.encode("latin-1") + body


class JsonErrors:
    """Mixin for a gunicorn worker (before the worker class in the bases): `handle_error` answers JSON."""

    def handle_error(self, req, client, addr, exc):  # same signature and logging as gunicorn's Worker
        started, request_start = time.perf_counter(), datetime.now()
        addr = addr or ("", -1)  # unix socket
        request_id = uuid.uuid4().hex
        status, message, client_error = classify(exc, self.cfg)
        if client_error:
            self.log.warning("Invalid request from ip=%s request_id=%s: %s", addr[0], request_id, exc)
            if req is None and isinstance(exc, (gerrors.InvalidHeader, gerrors.InvalidHeaderName)):
                req = getattr(exc, "req", None)  # the access log line, as gunicorn writes it
        else:
            self.log.exception("Error handling request %s %s request_id=%s", getattr(req, "method", "-"),
                               getattr(req, "uri", "(no URI read)"), request_id)
        payload = error_response(status, message, request_id, (time.perf_counter() - started) * 1000)
        if req is not None:
            try:
                environ = default_environ(req, client, self.cfg)
                environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
                resp = Response(req, client, self.cfg)
                resp.status = f"{status} {http.HTTPStatus(status).phrase}"
                resp.headers = [("X-Request-ID", request_id)]
                resp.sent = len(payload) - payload.index(b"\r\n\r\n") - 4
                self.log.access(resp, req, environ, datetime.now() - request_start)
            except Exception:  # a half-parsed request may lack what the access line needs
                self.log.debug("No access log line for the rejected request.")
        try:
            util.write_nonblock(client, payload)
        except Exception:
            self.log.debug("Failed to send error message.")
        self.after_error_sent(client)

    def after_error_sent(self, client) -> None:
        """Hook run after the error was written; the connection is closed by the worker afterwards."""


class JsonErrorBufferingWorker(JsonErrors, BufferingThreadWorker):
    """`worker_class` for the model-worker: gthread with request buffering in its poller (`buffered_gthread`),
    answering its own rejections as JSON; its deadline is BODY_TIMEOUT_S and its largest body the worker's."""

    read_timeout_s: float = WorkerConfig.body_timeout_s
    max_body_bytes: int = WorkerConfig().max_request_bytes

    def init_process(self) -> None:
        with contextlib.suppress(ConfigError):  # a bad value is reported by the app, which stops the server
            config = WorkerConfig.from_env()
            self.read_timeout_s, self.max_body_bytes = config.body_timeout_s, config.max_request_bytes
        super().init_process()

    def rejection(self, status: int, message: str, request_id: str) -> bytes:
        return error_response(status, message, request_id)
