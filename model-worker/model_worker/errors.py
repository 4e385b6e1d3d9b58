"""The contract's errors, built one way: one exception class per contract code, raised anywhere below a route, and
one function (`error_response`) that renders any of them as `{"error": {"code", "message", "request_id"}}` with
the class's HTTP status and, for 429 and 503, `Retry-After`.

A message is one plain sentence that says what went wrong and what to do about it ("...; send a PNG, JPEG or WebP
image or a PDF."), so that the llm-api can pass it through to a person unchanged. The llm-api's `errors.py` has the
same shape; the two services are separate images, so each keeps its own copy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from .schemas import ErrorBody

try:  # errors gunicorn raises while the app reads a malformed request body
    from gunicorn.http.errors import NoMoreData, ParseException

    BODY_READ_ERRORS: tuple[type[Exception], ...] = (ParseException, NoMoreData)
except ImportError:  # served by another WSGI server
    BODY_READ_ERRORS = ()

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client is told about; a subclass fixes the contract code and status. Raised bare, it is a bug
    (500 `internal`)."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def body(self, request_id: str) -> ErrorBody:
        """The contract's body (also a stream's final error line, with `"type": "error"` added)."""
        return {"error": {"code": self.code, "message": self.message, "request_id": request_id}}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class ModelNotFound(ApiError):
    status, code = 404, "model_not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class UnprocessableMedia(ApiError):
    status, code = 422, "unprocessable_media"


class Overloaded(ApiError):
    status, code = 429, "overloaded"


class BackendError(ApiError):
    status, code = 502, "backend_error"


class BackendUnavailable(ApiError):
    status, code = 503, "backend_unavailable"


class BackendTimeout(ApiError):
    status, code = 504, "backend_timeout"


# The class for an HTTP status (404 is `not_found`: `model_not_found` is always raised by name).
BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType,
                UnprocessableMedia, Overloaded, ApiError, BackendError, BackendUnavailable, BackendTimeout)
}


def error_for_status(status: int, message: str, retry_after: int | None = None) -> ApiError:
    """The contract error for an HTTP status. An unlisted status (Flask's 411, say) keeps its number, with the code
    `bad_request` below 500 and `internal` above."""
    cls = BY_STATUS.get(status)
    if cls is not None:
        return cls(message, retry_after=retry_after)
    error = (BadRequest if status < 500 else ApiError)(message, retry_after=retry_after)
    error.status = status
    return error


def error_response(err: ApiError) -> Response:
    """The one place an error becomes a response: the contract body, the status, and Retry-After when set."""
    response = jsonify(err.body(getattr(g, "request_id", "") or ""))
    response.status_code = err.status
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _http_error_message(exc: HTTPException) -> str:
    """Flask's own refusals (no route, wrong method, body too large) in the voice of the others."""
    if exc.code == 404:
        return f"No route {request.path} exists on the model-worker; check the path against docs/api.md."
    if exc.code == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or ()))
        return f"{request.method} is not allowed on {request.path}; use {allowed or 'another method'}."
    if exc.code == 413:
        return "The request body is larger than this route accepts; send a smaller file."
    return (exc.description or exc.name).split("\n")[0]


def init_app(app: Flask) -> None:
    """Every failure, ours or Flask's or gunicorn's, answers through `error_response`."""

    @app.errorhandler(ApiError)
    def api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = error_response(error_for_status(exc.code or 500, _http_error_message(exc)))
        for name, value in exc.get_headers():
            if name.lower() == "allow":
                response.headers["Allow"] = value
        return response

    def malformed_body(_exc: Exception):
        # gunicorn's reader of the body found a broken chunked encoding, or the body ended early: the client
        # closed, or stopped sending for BODY_TIMEOUT_S (gunicorn_worker.DeadlineSocket). gunicorn then closes.
        return error_response(BadRequest(
            "The request body is malformed or stopped arriving before it was complete; send it again whole."
        ))

    for exc_class in BODY_READ_ERRORS:
        app.register_error_handler(exc_class, malformed_body)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error in %s %s (request %s)", request.method, request.path, g.get("request_id"))
        return error_response(ApiError("An unexpected error occurred in the model-worker; see its log."))
