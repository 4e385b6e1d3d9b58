"""Configuration of the llm-api, read once from the environment into one frozen dataclass.

Variables (the contract's names; defaults in parentheses):

| Variable             | Default                                    | Meaning                                         |
|----------------------|--------------------------------------------|-------------------------------------------------|
| `PORT`               | `8080`                                     | TCP port gunicorn binds on 0.0.0.0              |
| `OLLAMA_URL`         | `http://ollama:11434`                      | Ollama's base URL (`none`: no Ollama)           |
| `WORKER_URL`         | `http://model-worker:8000`                 | model-worker's base URL (Omni, detector)        |
| `REALTIME_URL`       | `http://realtime:8998`                     | real-time voice service (`none`: switched off)  |
| `LLM_DEFAULT_MODEL`  | `7shi/ezo-gemma-2-jpn:2b-instruct-q8_0`    | model used when a request names none            |
| `CORS_ORIGINS`       | `http://localhost:3000,http://127.0.0.1:3000` | comma-separated browser origins (`*`: any)   |
| `API_KEY`            | unset (no auth)                            | Bearer key required on every route but health   |
| `DATABASE_PATH`      | `/data/llm-api.sqlite3`                    | SQLite file holding the chat sessions           |
| `DATABASE_URL`       | unset (SQLite at `DATABASE_PATH`)          | `postgresql://u:p@host/db`: history in Postgres |
| `DATABASE_URL_FILE`  | unset                                      | a file holding `DATABASE_URL` (secrets)         |
| `DATABASE_POOL_SIZE` | `10`                                       | most PostgreSQL connections per worker process |
| `UPSTREAM_TIMEOUT_S` | `600`                                      | read timeout (seconds): each wait for more bytes |
| `UPSTREAM_TOTAL_TIMEOUT_S` | `3600`                               | a whole model answer, however it trickles: 504  |
| `MAX_UPSTREAM_MB`    | `64`                                       | a non-streamed backend answer's size: 502       |
| `MAX_UPLOAD_MB`      | `25`                                       | audio upload limit in MiB (images: min(20, it)) |
| `BODY_TIMEOUT_S`     | `30`                                       | max wait (s) for a stalled request body: 400    |
| `MAX_JSON_MB`        | `1`                                        | JSON body limit in MiB (413 beyond it)          |
| `MAX_PROMPT_CHARS`   | `32000`                                    | prompt and system limit in characters: 400      |
| `MAX_AUDIO_SECONDS`  | `120`                                      | audio duration limit (checked here for WAV): 400 |
| `MAX_IMAGE_PIXELS`   | `40000000`                                 | image pixel limit (from the image header): 400  |

| `OPENAI_BACKENDS`    | unset (none)                               | OpenAI-compatible backends: `name=base_url,...` |
| `METRICS_PORT`       | unset (off)                                | internal listener: `/metrics` only, no API_KEY  |

Each backend `<NAME>` of `OPENAI_BACKENDS` (lowercase letters, digits, `-`, `_`; upper-cased in its variables) also
reads `OPENAI_BACKEND_<NAME>_API_KEY` (or `OPENAI_BACKEND_<NAME>_API_KEY_FILE`, a file holding the key: compose and
Kubernetes secrets) and `OPENAI_BACKEND_<NAME>_MODELS` (comma-separated model ids: pinned, so `/models` lists them
without asking the backend). Its models are named `<name>/<model>` everywhere.

A `DATABASE_URL`'s password appears in no log line, error or repr (`redact_url`). PostgreSQL's connections are
pooled per gunicorn worker process: an operation holds one for milliseconds (never across a model's answer), so
`DATABASE_POOL_SIZE` x `WEB_CONCURRENCY` x replicas is the most the llm-api opens (keep it under the server's
`max_connections`, 100 by default); a greenlet beyond the pool waits for a free connection (15 s at most).

`WEB_CONCURRENCY` (2) is gunicorn's own knob for the number of worker processes, read by `gunicorn.conf.py`.

The four limits have the contract's defaults and the model-worker's names, so one value in `.env` (compose passes
it to both services) keeps them equal: the llm-api never accepts what the worker would refuse.
A bad value raises `ConfigError` with one readable sentence; `gunicorn.conf.py` turns it into a one-line exit.
This module imports only the standard library, so gunicorn's master can load it before gevent patches anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MIB = 1024 * 1024
MAX_IMAGE_MB = 20
CONNECT_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 3.0
RETRY_AFTER_S = 5

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")
BACKEND_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
BACKEND_MODEL_RE = re.compile(r"^[^\s,]{1,200}$")
OFF_URL = "none"  # a service URL switched off
NO_OLLAMA = OFF_URL

DEFAULTS = {
    "PORT": "8080",
    "OLLAMA_URL": "http://ollama:11434",
    "WORKER_URL": "http://model-worker:8000",
    "REALTIME_URL": "http://realtime:8998",
    "LLM_DEFAULT_MODEL": "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0",
    "CORS_ORIGINS": "http://localhost:3000,http://127.0.0.1:3000",
    "API_KEY": "",
    "DATABASE_PATH": "/data/llm-api.sqlite3",
    "DATABASE_URL": "",
    "DATABASE_POOL_SIZE": "10",
    "UPSTREAM_TIMEOUT_S": "600",
    "UPSTREAM_TOTAL_TIMEOUT_S": "3600",
    "MAX_UPSTREAM_MB": "64",
    "MAX_UPLOAD_MB": "25",
    "BODY_TIMEOUT_S": "30",
    "MAX_JSON_MB": "1",
    "MAX_PROMPT_CHARS": "32000",
    "MAX_AUDIO_SECONDS": "120",
    "MAX_IMAGE_PIXELS": "40000000",
    "OPENAI_BACKENDS": "",
    "METRICS_PORT": "",
}


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class OpenAIBackendConfig:
    """One entry of `OPENAI_BACKENDS`; `api_key` never appears in a log line, an error or a listing."""

    name: str
    base_url: str
    api_key: str | None = None
    models: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the key stays out of tracebacks and debug prints too
        return f"OpenAIBackendConfig(name={self.name!r}, base_url={self.base_url!r}, models={self.models!r})"


@dataclass(frozen=True)
class Config:
    port: int
    ollama_url: str
    worker_url: str
    default_model: str
    cors_origins: tuple[str, ...]
    api_key: str | None
    database_path: str
    upstream_timeout_s: float
    max_upload_mb: int
    upstream_total_timeout_s: float = 3600.0
    max_upstream_bytes: int = 64 * MIB
    body_timeout_s: float = 30.0  # a client that stops sending its body gets 400 after this long, not a hang
    # The contract's limits (defaults as in DEFAULTS; the schemas use these class defaults when given no Config).
    max_json_bytes: int = 1 * MIB
    max_prompt_chars: int = 32_000
    max_audio_seconds: float = 120.0
    max_image_pixels: int = 40_000_000
    openai_backends: tuple[OpenAIBackendConfig, ...] = ()
    metrics_port: int | None = None  # METRICS_PORT: a second listener serving /metrics only, without API_KEY
    database_url: str | None = field(default=None, repr=False)  # PostgreSQL; None: SQLite at database_path
    database_pool_size: int = 10
    realtime_url: str | None = None  # REALTIME_URL; None: `none`, the real-time voice service switched off

    @property
    def ollama_enabled(self) -> bool:
        return self.ollama_url != NO_OLLAMA

    @property
    def max_audio_bytes(self) -> int:
        return self.max_upload_mb * MIB

    @property
    def max_image_bytes(self) -> int:
        return min(MAX_IMAGE_MB, self.max_upload_mb) * MIB


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low < value <= high:
        raise ConfigError(f"{name} must be greater than {low} and at most {high}, got {raw.strip()}")
    return value


def _megabytes(name: str, raw: str, high: float) -> int:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of MiB, got {raw!r}") from None
    if not 0 < value <= high:
        raise ConfigError(f"{name} must be greater than 0 and at most {high:g}, got {raw.strip()}")
    return int(value * MIB)


def _url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be an http(s) URL like http://host:port, got {raw!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port: {raw!r}") from None
    return value


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ConfigError(f"CORS_ORIGINS entries must look like http://host:port or '*', got {origin!r}")
    return origins


def _backend_key(env: Mapping[str, str], prefix: str) -> str | None:
    key = env.get(f"{prefix}_API_KEY", "").strip()
    path = env.get(f"{prefix}_API_KEY_FILE", "").strip()
    if key and path:
        raise ConfigError(f"set {prefix}_API_KEY or {prefix}_API_KEY_FILE, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                key = f.read().strip()
        except OSError as exc:
            raise ConfigError(f"{prefix}_API_KEY_FILE cannot be read: {path} ({exc.strerror})") from None
    if key and any(c.isspace() for c in key):
        raise ConfigError(f"{prefix}_API_KEY must not contain whitespace")
    return key or None


def _openai_backends(env: Mapping[str, str], raw: str) -> tuple[OpenAIBackendConfig, ...]:
    backends: list[OpenAIBackendConfig] = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        name, equals, url = entry.partition("=")
        name = name.strip()
        if not equals or not BACKEND_NAME_RE.match(name):
            raise ConfigError("OPENAI_BACKENDS entries must look like name=https://host/v1 (name: lowercase "
                              f"letters, digits, - and _), got {entry!r}")
        if name in {b.name for b in backends}:
            raise ConfigError(f"OPENAI_BACKENDS names the backend {name!r} twice")
        prefix = "OPENAI_BACKEND_" + name.upper().replace("-", "_")
        models = tuple(m.strip() for m in env.get(f"{prefix}_MODELS", "").split(",") if m.strip())
        for model in models:
            if not BACKEND_MODEL_RE.match(model):
                raise ConfigError(f"{prefix}_MODELS has an invalid model id: {model!r}")
        backends.append(OpenAIBackendConfig(name=name, base_url=_url(f"OPENAI_BACKENDS ({name})", url),
                                            api_key=_backend_key(env, prefix), models=models))
    return tuple(backends)


def _metrics_port(raw: str, api_port: int) -> int | None:
    if not raw.strip():
        return None
    port = _int("METRICS_PORT", raw, 1, 65535)
    if port == api_port:
        raise ConfigError(f"METRICS_PORT must differ from PORT ({port}): the API port never serves /metrics "
                          "without API_KEY")
    return port


POSTGRES_SCHEMES = ("postgresql", "postgres")


def redact_url(url: str) -> str:
    """A database URL as it may be logged: the password (and any query, which may hold one) left out."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def _database_url(env: Mapping[str, str]) -> str | None:
    url = env.get("DATABASE_URL", "").strip()
    path = env.get("DATABASE_URL_FILE", "").strip()
    if url and path:
        raise ConfigError("set DATABASE_URL or DATABASE_URL_FILE, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                url = f.read().strip()
        except OSError as exc:
            raise ConfigError(f"DATABASE_URL_FILE cannot be read: {path} ({exc.strerror})") from None
    if not url:
        return None
    parts = urlsplit(url)  # the message never shows the URL itself: it may hold a password
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ConfigError(f"DATABASE_URL must be a postgresql:// URL (unset: SQLite at DATABASE_PATH), got a "
                          f"{parts.scheme or 'schemeless'} URL")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"DATABASE_URL has an invalid port: {redact_url(url)}") from None
    return url


def load_config(env: Mapping[str, str]) -> Config:
    """Read and validate the configuration from `env` (normally `os.environ`)."""

    def get(name: str) -> str:
        value = env.get(name)
        return DEFAULTS[name] if value is None or value.strip() == "" else value

    model = get("LLM_DEFAULT_MODEL").strip()
    if not MODEL_NAME_RE.match(model):
        raise ConfigError(f"LLM_DEFAULT_MODEL is not a valid model name: {model!r}")
    api_key = env.get("API_KEY", "").strip() or None
    if api_key is not None and any(c.isspace() for c in api_key):
        raise ConfigError("API_KEY must not contain whitespace")
    database_path = get("DATABASE_PATH").strip()
    return Config(
        port=_int("PORT", get("PORT"), 1, 65535),
        ollama_url=NO_OLLAMA if get("OLLAMA_URL").strip() == NO_OLLAMA else _url("OLLAMA_URL", get("OLLAMA_URL")),
        worker_url=_url("WORKER_URL", get("WORKER_URL")),
        default_model=model,
        cors_origins=_origins(get("CORS_ORIGINS")),
        api_key=api_key,
        database_path=database_path,
        upstream_timeout_s=_float("UPSTREAM_TIMEOUT_S", get("UPSTREAM_TIMEOUT_S"), 0.0, 86_400.0),
        upstream_total_timeout_s=_float("UPSTREAM_TOTAL_TIMEOUT_S", get("UPSTREAM_TOTAL_TIMEOUT_S"), 0.0, 604_800.0),
        max_upstream_bytes=_megabytes("MAX_UPSTREAM_MB", get("MAX_UPSTREAM_MB"), 65_536.0),
        max_upload_mb=_int("MAX_UPLOAD_MB", get("MAX_UPLOAD_MB"), 1, 2048),
        body_timeout_s=_float("BODY_TIMEOUT_S", get("BODY_TIMEOUT_S"), 0.0, 3600.0),
        max_json_bytes=_megabytes("MAX_JSON_MB", get("MAX_JSON_MB"), 1024.0),
        max_prompt_chars=_int("MAX_PROMPT_CHARS", get("MAX_PROMPT_CHARS"), 1, 100_000_000),
        max_audio_seconds=_float("MAX_AUDIO_SECONDS", get("MAX_AUDIO_SECONDS"), 0.0, 86_400.0),
        max_image_pixels=_int("MAX_IMAGE_PIXELS", get("MAX_IMAGE_PIXELS"), 1, 10_000_000_000),
        openai_backends=_openai_backends(env, get("OPENAI_BACKENDS")),
        metrics_port=_metrics_port(get("METRICS_PORT"), _int("PORT", get("PORT"), 1, 65535)),
        database_url=_database_url(env),
        database_pool_size=_int("DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE"), 1, 1000),
        realtime_url=_realtime_url(get("REALTIME_URL")),
    )


def _realtime_url(raw: str) -> str | None:
    if raw.strip() == OFF_URL:
        return None
    url = _url("REALTIME_URL", raw)
    if not url.startswith("http://"):
        raise ConfigError(f"REALTIME_URL must be an http:// URL on the stack's network (or none), got {url!r}")
    return url
