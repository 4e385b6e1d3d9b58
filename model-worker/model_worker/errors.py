"""The contract's error shape: `{"error": {"code", "message", "request_id"}}` with the matching HTTP status."""

from __future__ import annotations


class ApiError(Exception):
    """An error the client is told about: contract code, HTTP status and one human sentence."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class ModelNotFound(ApiError):
    status, code = 404, "model_not_found"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class UnprocessableMedia(ApiError):
    status, code = 422, "unprocessable_media"


class Overloaded(ApiError):
    status, code = 429, "overloaded"


class BackendUnavailable(ApiError):
    status, code = 503, "backend_unavailable"


class BackendTimeout(ApiError):
    status, code = 504, "backend_timeout"


STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_media",
    429: "overloaded",
    500: "internal",
    502: "backend_error",
    503: "backend_unavailable",
    504: "backend_timeout",
}


def error_body(code: str, message: str, request_id: str) -> dict:
    return {"error": {"code": code, "message": message, "request_id": request_id}}
