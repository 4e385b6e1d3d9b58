"""gunicorn settings for the llm-api (gunicorn 27; setting names from gunicorn/config.py).

gevent workers: every open NDJSON stream is a greenlet, not a thread, so many long streams fit in one process;
requests, sqlite3 and psycopg run under gevent's monkey patching (applied by the worker before the app is
imported; psycopg must first be imported after it, see llm_api/store/postgres.py).
The worker class is gunicorn's gevent worker whose own rejections (414, 431, a malformed request: 400, ...) are the
contract's JSON errors instead of HTML pages (`llm_api/gunicorn_worker.py`).
The configuration is validated here, in the master, so a bad value ends the process with one readable line.
Metrics: prometheus_client's multiprocess mode (see "Prometheus multiprocess mode" below); `METRICS_PORT` adds a
second listener that serves only `/metrics` (llm_api/metrics.py).
"""

import os
import shutil
import tempfile

from llm_api.config import ConfigError, load_config
from llm_api.store import StoreError, migrate_store

try:
    _config = load_config(os.environ)
    migrate_store(_config)  # PostgreSQL: in a child process, so this master never imports psycopg
except (ConfigError, StoreError) as _exc:
    raise SystemExit(f"llm-api: configuration error: {_exc}") from None

_workers = os.environ.get("WEB_CONCURRENCY", "2").strip() or "2"
if not _workers.isdigit() or not 1 <= int(_workers) <= 64:
    raise SystemExit(f"llm-api: configuration error: WEB_CONCURRENCY must be an integer from 1 to 64, got {_workers!r}")

bind = [f"0.0.0.0:{_config.port}"] + ([f"0.0.0.0:{_config.metrics_port}"] if _config.metrics_port else [])
workers = int(_workers)
worker_class = "llm_api.gunicorn_worker.JsonErrorGeventWorker"  # gunicorn's "gevent", JSON rejections
worker_connections = 500
timeout = 60  # heartbeat: gevent workers stay alive during long streams
graceful_timeout = 30
keepalive = 5
control_socket_disable = True  # gunicorn 27's --no-control-socket
accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s "%(a)s"'

# Prometheus multiprocess mode: each worker process writes its metrics into PROMETHEUS_MULTIPROC_DIR, and a scrape
# answered by any of them adds up all the files. Set here, before a worker imports prometheus_client (the mode is
# fixed at its import); unset, a private temporary directory, removed on exit. Wiped at each start (on_starting);
# a dead worker's live gauges (streams open) are dropped when it exits (child_exit). Its counters stay: they count.
_METRICS_DIR_PREFIX = "llm-api-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_METRICS_DIR_PREFIX)


def on_starting(server):
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(path).startswith(_METRICS_DIR_PREFIX) and os.path.dirname(path) == tempfile.gettempdir():
        shutil.rmtree(path, ignore_errors=True)  # the one made above, never an operator's directory
