"""HTTP to the model backends (Ollama, model-worker): pooled connections, timeouts, NDJSON reading, and the
mapping of every transport failure to the contract's error codes. Failures are logged here, once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError

from .config import CONNECT_TIMEOUT_S, RETRY_AFTER_S
from .errors import ApiError, BackendError, BackendTimeout, BackendUnavailable
from .plain_http import PlainHttp, PlainResponse

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("llm_api.upstream")
MAX_LINE_BYTES = 16 * 1024 * 1024
FINISH_TIMEOUT_S = 0.1  # the wait for a complete stream's last bytes before the connection is closed instead


def http_session(pool_size: int = 100) -> requests.Session:
    """One pooled session per process (gunicorn forks before the app is built, so each worker has its own)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False
    return session


@dataclass
class ChatEvent:
    """One step of a chat answer: a `token` piece of text, or `done` with the backend's timings and finish reason."""

    kind: str
    text: str = ""
    timings: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None  # on `done`: OpenAI's `stop` or `length`, when the backend says


@dataclass(frozen=True)
class AnswerLimits:
    """Bounds on a whole answer, beyond the per-read timeout: `UPSTREAM_TIMEOUT_S` bounds each wait for more bytes,
    so a backend dripping one byte every few seconds, or streaming forever, would otherwise never end; and a
    non-streamed body is held in memory whole."""

    total_timeout_s: float = 3600.0  # UPSTREAM_TOTAL_TIMEOUT_S: the whole answer, from the request
    max_body_bytes: int = 64 * 1024 * 1024  # MAX_UPSTREAM_MB: a non-streamed answer's body


class Upstream:
    """A backend at `base_url`; `request` maps transport failures to `ApiError`s and logs them once (and counts
    them in `metrics`, under `label`: `ollama`, `model-worker`, `openai/<name>`)."""

    def __init__(self, name: str, base_url: str, http: requests.Session, read_timeout_s: float,
                 limits: AnswerLimits | None = None, *, label: str | None = None, metrics: Metrics | None = None):
        self.name = name
        self.label = label or name.lower()
        self.metrics = metrics
        self.base_url = base_url
        self.http = http
        self.read_timeout_s = read_timeout_s
        self.limits = limits or AnswerLimits()
        self.plain = PlainHttp(base_url) if base_url.startswith("http://") else None  # the JSON hot path

    def fail(self, error: ApiError, request_id: str) -> ApiError:
        """Logs a backend's failure once, here, with the request id; returns `error` for the caller to raise."""
        log.warning("upstream %s failed: %s %s request_id=%s", self.name, error.code, error.message, request_id)
        if self.metrics is not None:
            self.metrics.upstream_error(self.label, error.code)
        return error

    def request(self, method: str, path: str, request_id: str, *, read_timeout_s: float | None = None,
                **kwargs: Any) -> requests.Response | PlainResponse:
        """Sends the request; the body is left unread (`read_json`, `ndjson`) so reads honour the timeout.
        A JSON or bodiless request to an http:// backend goes through `PlainHttp`; others through `requests`."""
        url = self.base_url + path
        timeout = (min(CONNECT_TIMEOUT_S, read_timeout_s or CONNECT_TIMEOUT_S),
                   read_timeout_s or self.read_timeout_s)
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        try:
            started = time.monotonic()
            if self.plain is not None and kwargs.keys() <= {"json"}:
                response: requests.Response | PlainResponse = self.plain.request(method, path, timeout, headers,
                                                                                 kwargs.get("json"))
            else:
                response = self.http.request(method, url, timeout=timeout, stream=True, headers=headers, **kwargs)
            response.read_timeout_s = timeout[1]  # type: ignore[union-attr]  # for the error message
            response.answer_deadline = started + self.limits.total_timeout_s  # type: ignore[union-attr]
            return response
        except requests.ReadTimeout:
            raise self.fail(BackendTimeout(f"{self.name} did not answer within {timeout[1]:g} s; try again, or "
                                           "raise UPSTREAM_TIMEOUT_S for slow first loads."), request_id) from None
        except requests.ConnectionError as exc:
            raise self.fail(BackendUnavailable(
                f"Cannot connect to {self.name} at {self.base_url} ({type(exc).__name__}); check that it runs, "
                f"then try again.", retry_after=RETRY_AFTER_S), request_id) from None
        except requests.RequestException as exc:
            raise self.fail(BackendError(f"The {self.name} request failed ({type(exc).__name__}); try again."),
                            request_id) from None

    def read_json(self, response: requests.Response, request_id: str) -> Any:
        """The whole body as JSON; timeouts and drops while reading become 504 / 502."""
        body = bytearray()
        try:
            for data in self.chunks(response, request_id):
                body += data
                if len(body) > self.limits.max_body_bytes:
                    raise self.fail(BackendError(
                        f"{self.name} answered with more than {self.limits.max_body_bytes // (1024 * 1024)} MiB; "
                        "see its log, or raise MAX_UPSTREAM_MB."), request_id)
        finally:
            response.close()
        try:
            return json.loads(body)
        except ValueError:
            raise self.fail(BackendError(f"{self.name} answered with invalid JSON (HTTP {response.status_code}); "
                                         "see its log."), request_id) from None

    def chunks(self, response: requests.Response, request_id: str) -> Iterator[bytes]:
        """The body as it arrives (no waiting for a full buffer), for chunked and plain responses."""
        raw = response.raw
        deadline = getattr(response, "answer_deadline", time.monotonic() + self.limits.total_timeout_s)
        try:
            while True:
                data = raw.read1(65536)
                if not data:
                    return
                if time.monotonic() > deadline:
                    raise self.fail(BackendTimeout(
                        f"{self.name} did not finish its answer within {self.limits.total_timeout_s:g} s; try a "
                        "shorter answer, or raise UPSTREAM_TOTAL_TIMEOUT_S."), request_id)
                yield data
        except ReadTimeoutError:
            waited = getattr(response, "read_timeout_s", self.read_timeout_s)
            raise self.fail(BackendTimeout(f"{self.name} sent nothing for {waited:g} s; try again, or raise "
                                           "UPSTREAM_TIMEOUT_S."), request_id) from None
        except (Urllib3Error, OSError, ValueError) as exc:
            raise self.fail(BackendError(f"The connection to {self.name} dropped ({type(exc).__name__}); try "
                                         "again."), request_id) from None

    def ndjson(self, response: requests.Response, request_id: str) -> Iterator[dict[str, Any]]:
        """The body's NDJSON objects one by one; the response is closed when this generator ends or is closed."""
        buffer = bytearray()
        try:
            for data in self.chunks(response, request_id):
                buffer += data
                lines: list[bytes] = []
                if b"\n" in data:  # split only when a line ended: a long line is scanned once, not per chunk
                    *lines, rest = bytes(buffer).split(b"\n")
                    buffer = bytearray(rest)
                if len(buffer) > MAX_LINE_BYTES:
                    raise self.fail(BackendError(f"{self.name} sent an over-long line; see its log."), request_id)
                for line in lines:
                    if line.strip():
                        yield self._parse_line(line, request_id)
            if buffer.strip():
                yield self._parse_line(bytes(buffer), request_id)
        finally:
            response.close()

    def finish(self, response: requests.Response | PlainResponse) -> None:
        """After a complete answer (its `done` line seen): read the body's end, normally there already, so the
        connection goes back to the pool instead of being closed (a new one costs a connect and a name lookup).
        A backend that sends more, or does not end within `FINISH_TIMEOUT_S`, is closed as before."""
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        try:
            if sock is not None:
                sock.settimeout(FINISH_TIMEOUT_S)  # set again when the connection is next used
            if response.raw.read1(65536) == b"":
                return  # the end of the body: the connection is back in its pool
        except (Urllib3Error, OSError, ValueError):
            pass
        response.close()

    def _parse_line(self, line: bytes, request_id: str) -> dict[str, Any]:
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict):
            raise self.fail(BackendError(f"{self.name} sent a line that is not a JSON object; see its log."),
                            request_id)
        return item


def error_text(response: requests.Response) -> str:
    """The `error` of a non-2xx answer, as a string, whatever its shape ({"error": "x"} or the contract's)."""
    try:
        text = response.text
    except requests.RequestException:
        return f"HTTP {response.status_code}"
    finally:
        response.close()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300].strip() or f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    return str(error or body)[:300]
