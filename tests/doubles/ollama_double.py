"""A test double of the Ollama server that speaks Ollama's real HTTP protocol (docs/api.md of ollama/ollama).

Routes: `/api/chat`, `/api/generate` (NDJSON streams by default, one JSON object with `"stream": false`; the
final object has `done: true`, `done_reason` and nanosecond durations), `/api/tags`, `/api/show`, `/api/pull`
(progress lines, then `success`; the model is then present), `/api/ps`, `/api/version`, `/api/delete`, and the
OpenAI-compatible `/v1/chat/completions` (JSON or SSE) and `/v1/models`. An unknown model answers
404 `{"error": "model 'x' not found"}`; an error after a stream began is a final `{"error": ...}` line.

Answers are deterministic and depend on the messages: `You said: <last user message> (<n> messages)`, sent
word by word, so tests can check what history arrived (every request body is also recorded).

Knobs (constructor keywords, `set(**knobs)` at run time, or `POST /_double/knobs` with a JSON object):
  token_delay_s        seconds between streamed tokens (default 0)
  load_delay_s         the first request for a model waits this long before answering ("slow first load")
  stall_after_tokens   stop sending after this many tokens and hold the connection open (until it closes)
  error_after_tokens   send `{"error": ...}` after this many tokens and end the stream
  fail_status          chat/generate/completions answer this HTTP status with `{"error": ...}`
  pull_delay_s         seconds between pull progress lines
`GET /_double/state` returns knobs and counters; `POST /_double/reset` restores the defaults.

In-process: `with OllamaDouble(models=[...]) as double: double.url`. As a process:
`python -m tests.doubles.ollama_double --port P [--token-delay S] [--models a,b]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "0.12.6"
DEFAULT_MODELS = ("7shi/ezo-gemma-2-jpn:2b-instruct-q8_0", "qwen2.5:0.5b")
MISSING_IN_REGISTRY = re.compile(r"(^|/)(missing|does-not-exist)")
STALL_LIMIT_S = 120.0


def canonical(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def answer_for(messages: list[dict[str, Any]]) -> str:
    last_user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"You said: {last_user} ({len(messages)} messages)"


def tokenize(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


@dataclass
class Knobs:
    token_delay_s: float = 0.0
    load_delay_s: float = 0.0
    stall_after_tokens: int | None = None
    error_after_tokens: int | None = None
    fail_status: int | None = None
    pull_delay_s: float = 0.0


@dataclass
class ModelInfo:
    name: str
    size: int
    digest: str
    modified_at: str

    @classmethod
    def make(cls, name: str) -> ModelInfo:
        digest = hashlib.sha256(name.encode()).hexdigest()
        return cls(canonical(name), 1_000_000 + len(name) * 1000, digest, now_iso())

    def tag(self) -> dict[str, Any]:
        family = self.name.split("/")[-1].split(":")[0].split("-")[0].split(".")[0]
        return {"name": self.name, "model": self.name, "modified_at": self.modified_at, "size": self.size,
                "digest": self.digest,
                "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                            "parameter_size": "2.6B", "quantization_level": "Q8_0"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many parallel streams connect at once in concurrency tests and benchmarks

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | ClientGone):
            return  # a client that went away is part of the tests, not an error of the double
        super().handle_error(request, client_address)


class ClientGone(Exception):
    """The client closed the connection while we were streaming to it."""


class OllamaDouble:
    """The server, run in a background thread; a context manager that yields itself (`.url`)."""

    def __init__(self, models: Iterable[str] = DEFAULT_MODELS, host: str = "127.0.0.1", port: int = 0, **knobs: Any):
        self._lock = threading.Lock()
        self._initial_models = tuple(models)
        self._initial_knobs = Knobs(**knobs)
        self.knobs = Knobs(**knobs)
        self.models: dict[str, ModelInfo] = {}
        self.loaded: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        self.generation = 0
        self.reset()
        handler = type("Handler", (_Handler,), {"double": self})
        self.server = _Server((host, port), handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # --- state -------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Defaults again: initial knobs and models, nothing loaded, no recorded requests, counters at 0."""
        with self._lock:
            self.generation += 1  # requests still running from before a reset no longer count
            self.knobs = Knobs(**asdict(self._initial_knobs))
            self.models = {canonical(n): ModelInfo.make(n) for n in self._initial_models}
            self.loaded = set()
            self.requests = []
            self.counters = {"chat_started": 0, "chat_completed": 0, "chat_aborted": 0, "pulls": 0}

    def set(self, **knobs: Any) -> None:
        """Change knobs at run time (names as in `Knobs`)."""
        names = {f.name for f in fields(Knobs)}
        unknown = set(knobs) - names
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        with self._lock:
            for name, value in knobs.items():
                setattr(self.knobs, name, value)

    def count(self, name: str, generation: int | None = None) -> None:
        with self._lock:
            if generation is None or generation == self.generation:
                self.counters[name] = self.counters.get(name, 0) + 1

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"knobs": asdict(self.knobs), "counters": dict(self.counters), "models": sorted(self.models),
                    "loaded": sorted(self.loaded), "requests": len(self.requests)}

    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"] in ("/api/chat", "/v1/chat/completions")]

    def find(self, name: str | None) -> ModelInfo | None:
        with self._lock:
            return self.models.get(canonical(name)) if name else None

    # --- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> OllamaDouble:
        self._thread = threading.Thread(target=self.server.serve_forever, name="ollama-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> OllamaDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # like Go servers: no 40 ms delayed-ACK stalls between writes
    generation = 0
    server_version = "ollama-double"
    double: OllamaDouble

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # --- plumbing ------------------------------------------------------------------------------------------
    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = False

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except OSError as exc:
            self.close_connection = True
            raise ClientGone() from exc

    def _line(self, item: dict[str, Any]) -> None:
        self._chunk(json.dumps(item).encode() + b"\n")

    def _end_stream(self) -> None:
        self._chunk(b"")

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stall(self) -> None:
        """Send nothing more; hold the connection until the client closes it (or a long limit passes)."""
        deadline = time.monotonic() + STALL_LIMIT_S
        while time.monotonic() < deadline and self.double.knobs.stall_after_tokens is not None:
            if self._client_gone():
                raise ClientGone()
            time.sleep(0.02)
        self.close_connection = True

    # --- routing -------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        routes = {"/api/tags": self._tags, "/api/ps": self._ps, "/api/version": self._version,
                  "/v1/models": self._v1_models, "/_double/state": self._state, "/": self._root}
        self._dispatch(routes)

    def do_HEAD(self) -> None:
        self._empty(200 if self.path == "/" else 404)

    def do_POST(self) -> None:
        routes = {"/api/chat": self._chat, "/api/generate": self._generate, "/api/show": self._show,
                  "/api/pull": self._pull, "/v1/chat/completions": self._v1_chat,
                  "/_double/knobs": self._set_knobs, "/_double/reset": self._reset}
        self._dispatch(routes)

    def do_DELETE(self) -> None:
        self._dispatch({"/api/delete": self._delete})

    def _dispatch(self, routes: dict[str, Any]) -> None:
        path = self.path.split("?", 1)[0]
        handler = routes.get(path)
        if handler is None:
            self._body()
            self._empty(404 if path not in _ALL_PATHS else 405)
            return
        try:
            handler()
        except (ClientGone, ConnectionError):
            self.close_connection = True

    # --- Ollama API ----------------------------------------------------------------------------------------
    def _root(self) -> None:
        data = b"Ollama is running"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _version(self) -> None:
        self._json(200, {"version": VERSION})

    def _tags(self) -> None:
        with self.double._lock:
            models = [m.tag() for m in self.double.models.values()]
        self._json(200, {"models": models})

    def _ps(self) -> None:
        with self.double._lock:
            loaded = [self.double.models[n] for n in sorted(self.double.loaded) if n in self.double.models]
        expires = datetime.fromtimestamp(time.time() + 300, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._json(200, {"models": [{**m.tag(), "expires_at": expires, "size_vram": m.size} for m in loaded]})

    def _show(self) -> None:
        body = self._body() or {}
        model = self.double.find(body.get("model") or body.get("name"))
        if model is None:
            self._error(404, f"model '{body.get('model') or body.get('name')}' not found")
            return
        tag = model.tag()
        self._json(200, {
            "modelfile": f"FROM {model.name}\n", "parameters": "stop \"<end_of_turn>\"",
            "template": "{{ .Prompt }}", "details": tag["details"],
            "model_info": {"general.architecture": tag["details"]["family"], "general.parameter_count": 2_600_000_000},
            "capabilities": ["completion"], "modified_at": model.modified_at,
        })

    def _delete(self) -> None:
        body = self._body() or {}
        name = body.get("model") or body.get("name") or ""
        with self.double._lock:
            removed = self.double.models.pop(canonical(name), None) if name else None
            self.double.loaded.discard(canonical(name))
        if removed is None:
            self._error(404, f"model '{name}' not found")
        else:
            self._empty(200)

    def _pull(self) -> None:
        body = self._body() or {}
        name = body.get("model") or body.get("name")
        stream = body.get("stream", True)
        if not isinstance(name, str) or not name:
            self._error(400, "model is required")
            return
        self.double.count("pulls")
        lines = list(self._pull_lines(name))
        if not stream:
            errors = [item for item in lines if "error" in item]
            self._json(500 if errors else 200, errors[-1] if errors else {"status": "success"})
            return
        self._start_stream("application/x-ndjson")
        delay = self.double.knobs.pull_delay_s
        for item in lines:
            self._line(item)
            if delay:
                time.sleep(delay)
        self._end_stream()

    def _pull_lines(self, name: str) -> Iterator[dict[str, Any]]:
        yield {"status": "pulling manifest"}
        if MISSING_IN_REGISTRY.search(name):
            yield {"error": "pull model manifest: file does not exist"}
            return
        present = self.double.find(name) is not None
        info = ModelInfo.make(name)
        layers = [(info.digest, info.size - 2000), (hashlib.sha256(b"template").hexdigest(), 2000)]
        for digest, total in layers:
            steps = (total,) if present else (0, total // 2, total)
            for completed in steps:
                yield {"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}", "total": total,
                       "completed": completed}
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        with self.double._lock:
            self.double.models.setdefault(info.name, info)
        yield {"status": "success"}

    def _model_request(self, path: str) -> tuple[dict[str, Any], ModelInfo] | None:
        """Common start of chat/generate: record, validate, honour fail_status and the slow first load."""
        body = self._body()
        if not isinstance(body, dict):
            self._error(400, "invalid request body")
            return None
        with self.double._lock:
            self.double.requests.append({"path": path, "body": body, "headers": dict(self.headers)})
            self.generation = self.double.generation
        knobs = self.double.knobs
        if knobs.fail_status:
            self._error(knobs.fail_status, "llama runner process has terminated: exit status 2")
            return None
        name = body.get("model")
        if not isinstance(name, str) or not name:
            self._error(400, "model is required")
            return None
        model = self.double.find(name)
        if model is None:
            self._error(404, f"model '{name}' not found")
            return None
        with self.double._lock:
            first_load = model.name not in self.double.loaded
            self.double.loaded.add(model.name)
        if first_load and knobs.load_delay_s:
            time.sleep(knobs.load_delay_s)
        body["_load_ns"] = int(knobs.load_delay_s * 1e9) if first_load and knobs.load_delay_s else 2_500_000
        return body, model

    def _tokens(self, text: str, options: dict[str, Any]) -> tuple[list[str], str]:
        tokens = tokenize(text)
        limit = options.get("num_predict") if isinstance(options, dict) else None
        if isinstance(limit, int) and 0 < limit < len(tokens):
            return tokens[:limit], "length"
        return tokens, "stop"

    def _send_tokens(self, tokens: list[str], make: Any) -> bool:
        """Stream `make(token)` lines with the knobs' delay, stall and error; False if the stream ended early."""
        knobs = self.double.knobs
        for index, token in enumerate(tokens):
            if knobs.stall_after_tokens is not None and index >= knobs.stall_after_tokens:
                self._stall()
                return False
            if knobs.error_after_tokens is not None and index >= knobs.error_after_tokens:
                self._line({"error": "an error was encountered while running the model: unexpected EOF"})
                self._end_stream()
                return False
            self._line(make(token))
            if knobs.token_delay_s:
                time.sleep(knobs.token_delay_s)
        return True

    @staticmethod
    def _durations(started: float, load_ns: int, prompt_tokens: int, eval_count: int) -> dict[str, Any]:
        total = max(int((time.perf_counter() - started) * 1e9), 1_000_000) + load_ns
        prompt_ns = 1_000_000 + prompt_tokens * 100_000
        eval_ns = max(total - load_ns - prompt_ns, eval_count * 1_000_000, 1_000_000)
        return {"total_duration": total, "load_duration": load_ns, "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": prompt_ns, "eval_count": eval_count, "eval_duration": eval_ns}

    def _chat(self) -> None:
        started = time.perf_counter()
        request = self._model_request("/api/chat")
        if request is None:
            return
        body, model = request
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            self._error(400, "messages must be a list of objects")
            return
        tokens, reason = self._tokens(answer_for(messages), body.get("options") or {})
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + 4 * len(messages)
        self.double.count("chat_started", self.generation)
        if body.get("stream", True) is False:
            content = "".join(tokens)
            self._json(200, {"model": model.name, "created_at": now_iso(),
                             "message": {"role": "assistant", "content": content}, "done_reason": reason,
                             "done": True, **self._durations(started, body["_load_ns"], prompt_tokens, len(tokens))})
            self.double.count("chat_completed", self.generation)
            return
        self._start_stream("application/x-ndjson")
        try:
            done = self._send_tokens(tokens, lambda t: {"model": model.name, "created_at": now_iso(),
                                                        "message": {"role": "assistant", "content": t},
                                                        "done": False})
            if done:
                self._line({"model": model.name, "created_at": now_iso(),
                            "message": {"role": "assistant", "content": ""}, "done_reason": reason, "done": True,
                            **self._durations(started, body["_load_ns"], prompt_tokens, len(tokens))})
                self._end_stream()
                self.double.count("chat_completed", self.generation)
        except ClientGone:
            self.double.count("chat_aborted", self.generation)
            raise

    def _generate(self) -> None:
        started = time.perf_counter()
        request = self._model_request("/api/generate")
        if request is None:
            return
        body, model = request
        prompt = str(body.get("prompt", ""))
        tokens, reason = self._tokens(answer_for([{"role": "user", "content": prompt}]), body.get("options") or {})
        final = {"done_reason": reason, "done": True, "context": [1, 2, 3],
                 **self._durations(started, body["_load_ns"], len(prompt.split()) + 4, len(tokens))}
        if body.get("stream", True) is False:
            self._json(200, {"model": model.name, "created_at": now_iso(), "response": "".join(tokens), **final})
            return
        self._start_stream("application/x-ndjson")
        if self._send_tokens(tokens, lambda t: {"model": model.name, "created_at": now_iso(), "response": t,
                                                "done": False}):
            self._line({"model": model.name, "created_at": now_iso(), "response": "", **final})
            self._end_stream()

    # --- OpenAI-compatible API -----------------------------------------------------------------------------
    def _v1_models(self) -> None:
        with self.double._lock:
            data = [{"id": m.name, "object": "model", "created": 1_700_000_000, "owned_by": "library"}
                    for m in self.double.models.values()]
        self._json(200, {"object": "list", "data": data})

    def _v1_chat(self) -> None:
        body = self._body()
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            self._json(400, {"error": {"message": "invalid request", "type": "invalid_request_error",
                                       "param": None, "code": None}})
            return
        with self.double._lock:
            self.double.requests.append({"path": "/v1/chat/completions", "body": body, "headers": dict(self.headers)})
        model = self.double.find(body["model"])
        if model is None:
            self._json(404, {"error": {"message": f"model \"{body['model']}\" not found, try pulling it first",
                                       "type": "api_error", "param": None, "code": None}})
            return
        messages = body.get("messages") or []
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        tokens, reason = self._tokens(answer_for(messages), {"num_predict": limit})
        created = int(time.time())
        base = {"id": f"chatcmpl-{created % 1000}", "created": created, "model": model.name,
                "system_fingerprint": "fp_ollama"}
        if not body.get("stream"):
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
            self._json(200, {**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)}, "finish_reason": reason}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                          "total_tokens": prompt_tokens + len(tokens)}})
            return
        self._start_stream("text/event-stream")
        for token in tokens:
            chunk = {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": token}, "finish_reason": None}]}
            self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        final = {**base, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": reason}]}
        self._chunk(b"data: " + json.dumps(final).encode() + b"\n\n")
        self._chunk(b"data: [DONE]\n\n")
        self._end_stream()

    # --- control -------------------------------------------------------------------------------------------
    def _state(self) -> None:
        self._json(200, self.double.state())

    def _set_knobs(self) -> None:
        body = self._body()
        try:
            if not isinstance(body, dict):
                raise ValueError("a JSON object of knobs is required")
            self.double.set(**body)
        except (TypeError, ValueError) as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, self.double.state())

    def _reset(self) -> None:
        self._body()
        self.double.reset()
        self._json(200, self.double.state())


_ALL_PATHS = {"/api/tags", "/api/ps", "/api/version", "/v1/models", "/_double/state", "/", "/api/chat",
              "/api/generate", "/api/show", "/api/pull", "/v1/chat/completions", "/_double/knobs",
              "/_double/reset", "/api/delete"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Ollama test double.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed tokens")
    parser.add_argument("--load-delay", type=float, default=0.0, help="seconds of the first load per model")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated pulled models")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    double = OllamaDouble(models=models, host=args.host, port=args.port, token_delay_s=args.token_delay,
                          load_delay_s=args.load_delay)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=double.server.shutdown).start())
    print(f"ollama double listening on {double.url}", flush=True)
    try:
        double.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        double.server.server_close()


if __name__ == "__main__":
    main()
