"""The contract's error shape: `{"error": {"code", "message", "request_id"}}`, for every status."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

try:  # errors gunicorn raises while the app reads a malformed request body
    from gunicorn.http.errors import NoMoreData, ParseException

    BODY_READ_ERRORS: tuple[type[Exception], ...] = (ParseException, NoMoreData)
except ImportError:  # served by another WSGI server
    BODY_READ_ERRORS = ()

log = logging.getLogger("llm_api")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_media",
    429: "overloaded",
    502: "backend_error",
    503: "backend_unavailable",
    504: "backend_timeout",
}

HTTP_MESSAGES = {
    400: "The request is malformed.",
    401: "A valid 'Authorization: Bearer <key>' header is required.",
    404: "No such route.",
    405: "This method is not allowed on this route.",
    413: "The request body is too large.",
    415: "The request's content type is not supported here.",
}


class ApiError(Exception):
    """An error the API answers with its contract code; raised anywhere below a route."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def body(self, request_id: str) -> dict:
        return {"error": {"code": self.code, "message": self.message, "request_id": request_id}}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def current_request_id() -> str:
    return getattr(g, "request_id", "-")


def error_response(err: ApiError) -> Response:
    response = jsonify(err.body(current_request_id()))
    response.status_code = err.status
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = HTTP_CODES.get(status, "internal" if status >= 500 else "bad_request")
        message = HTTP_MESSAGES.get(status) or (exc.description or "Request failed.").split("\n")[0]
        response = error_response(ApiError(status, code, message))
        if status == 405 and (allow := exc.get_headers()):
            for name, value in allow:
                if name.lower() == "allow":
                    response.headers["Allow"] = value
        return response

    def _malformed_body(_exc: Exception):
        # gunicorn's reader of the body found a broken chunked encoding (or the body ended early)
        # gunicorn then closes the connection: the rest of the body cannot be framed
        return error_response(bad_request("The request body is malformed (its chunked encoding is broken)."))

    for exc_class in BODY_READ_ERRORS:
        app.register_error_handler(exc_class, _malformed_body)

    @app.errorhandler(TimeoutError)
    def _body_stalled(exc: TimeoutError):
        # raised by a read of the request body that waited longer than BODY_TIMEOUT_S (app._bound_body_reads)
        if g.get("body_socket") is None:
            return _unexpected(exc)
        log.info("request body stalled request_id=%s", current_request_id())
        # gunicorn then closes the connection (its drain of the unread body is bounded too)
        return error_response(bad_request("The request body stopped arriving before it was complete."))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error request_id=%s", current_request_id())
        return error_response(ApiError(500, "internal", "An internal error occurred; see the llm-api log."))
