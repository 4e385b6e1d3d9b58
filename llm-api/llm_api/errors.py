"""The contract's errors, built one way: one exception class per contract code, raised anywhere below a route, and
one function (`error_response`) that renders any of them as `{"error": {"code", "message", "request_id"}}` with
the class's HTTP status and, for 429 and 503, `Retry-After`.

A message is one plain sentence that says what went wrong and what to do about it ("...; pull it with ..."). The
model-worker's `errors.py` has the same shape (its messages pass through this service unchanged); the two services
are separate images, so each keeps its own copy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask, Response, g, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from .config import RETRY_AFTER_S
from .store.interface import StoreError

if TYPE_CHECKING:
    from .openai_schemas import OpenAIErrorBody
    from .schemas import ErrorBody

try:  # errors gunicorn raises while the app reads a malformed request body
    from gunicorn.http.errors import NoMoreData, ParseException

    BODY_READ_ERRORS: tuple[type[Exception], ...] = (ParseException, NoMoreData)
except ImportError:  # served by another WSGI server
    BODY_READ_ERRORS = ()

log = logging.getLogger("llm_api")


class ApiError(Exception):
    """An error the API answers with its contract code; a subclass fixes the code and status. Raised bare, it is a
    bug (500 `internal`)."""

    status = 500
    code = "internal"
    param: str | None = None  # the request parameter at fault, when one is (OpenAI's errors name it)

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def body(self, request_id: str) -> ErrorBody:
        """The contract's body (also a stream's final error line, with `"type": "error"` added)."""
        return {"error": {"code": self.code, "message": self.message, "request_id": request_id}}

    def openai_body(self) -> OpenAIErrorBody:
        """OpenAI's error shape, on the `/v1` routes (and a `/v1` stream's error event); `code` is the contract's."""
        kind = OPENAI_ERROR_TYPES.get(self.status) or ("invalid_request_error" if self.status < 500 else "api_error")
        code = "invalid_api_key" if self.status == 401 else self.code
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": code}}


OPENAI_PREFIX = "/v1/"
OPENAI_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


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

# Flask's own refusals, in the voice of the others (a route's own errors say more).
HTTP_MESSAGES = {
    400: "The request is malformed; check its syntax against docs/api.md.",
    401: "Send a valid 'Authorization: Bearer <key>' header.",
    404: "No such route; check the path against docs/api.md.",
    405: "This method is not allowed on this route; use one listed in the Allow header.",
    413: "The request body is too large; send a smaller one.",
    415: "The request's content type is not supported here; send the type docs/api.md names for this route.",
}
UNAUTHORIZED_MESSAGE = HTTP_MESSAGES[401]
INTERNAL_MESSAGE = "An internal error occurred; see the llm-api log."


def error_for_status(status: int, message: str, retry_after: int | None = None) -> ApiError:
    """The contract error for an HTTP status. An unlisted status (Flask's 411, say) keeps its number, with the code
    `bad_request` below 500 and `internal` above."""
    cls = BY_STATUS.get(status)
    if cls is not None:
        return cls(message, retry_after=retry_after)
    error = (BadRequest if status < 500 else ApiError)(message, retry_after=retry_after)
    error.status = status
    return error


def current_request_id() -> str:
    return getattr(g, "request_id", "-")


def error_response(err: ApiError) -> Response:
    """The one place an error becomes a response: the contract body, the status, and Retry-After when set."""
    if has_request_context() and request.path.startswith(OPENAI_PREFIX):
        response = jsonify(err.openai_body())  # OpenAI's shape, for OpenAI's clients; X-Request-ID names the request
    else:
        response = jsonify(err.body(current_request_id()))
    response.status_code = err.status
    retry_after = err.retry_after if err.retry_after is not None else RETRY_AFTER_S if err.status == 503 else None
    if retry_after is not None:  # the contract: a 503 always says when to try again
        response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
    """Every failure, ours or Flask's or gunicorn's, answers through `error_response`."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = HTTP_MESSAGES.get(status) or (exc.description or "Request failed.").split("\n")[0]
        response = error_response(error_for_status(status, message))
        for name, value in exc.get_headers():
            if name.lower() == "allow":
                response.headers["Allow"] = value
        return response

    def _malformed_body(_exc: Exception):
        # gunicorn's reader of the body found a broken chunked encoding (or the body ended early)
        # gunicorn then closes the connection: the rest of the body cannot be framed
        return error_response(BadRequest("The request body's chunked encoding is broken; send the body again whole."))

    for exc_class in BODY_READ_ERRORS:
        app.register_error_handler(exc_class, _malformed_body)

    @app.errorhandler(TimeoutError)
    def _body_stalled(exc: TimeoutError):
        # raised by a read of the request body that waited longer than BODY_TIMEOUT_S (app._bound_body_reads)
        if g.get("body_socket") is None:
            return _unexpected(exc)
        log.info("request body stalled request_id=%s", current_request_id())
        # gunicorn then closes the connection (its drain of the unread body is bounded too)
        return error_response(BadRequest(
            "The request body stopped arriving before it was complete; send the body again without pausing."
        ))

    @app.errorhandler(StoreError)
    def _store_unavailable(exc: StoreError):
        # the history database cannot be reached (PostgreSQL down, the pool exhausted): the caller may retry
        log.warning("history database unavailable request_id=%s: %s", current_request_id(), exc)
        return error_response(BackendUnavailable("The chat history database is unavailable; try again shortly.",
                                                 retry_after=5))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error request_id=%s", current_request_id())
        return error_response(ApiError(INTERNAL_MESSAGE))
