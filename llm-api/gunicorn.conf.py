"""gunicorn settings for the llm-api (gunicorn 27; setting names from gunicorn/config.py).

gevent workers: every open NDJSON stream is a greenlet, not a thread, so many long streams fit in one process;
requests and sqlite3 run under gevent's monkey patching (applied by the worker before the app is imported).
The worker class is gunicorn's gevent worker whose own rejections (414, 431, a malformed request: 400, ...) are the
contract's JSON errors instead of HTML pages (`llm_api/gunicorn_worker.py`).
The configuration is validated here, in the master, so a bad value ends the process with one readable line.
"""

import os

from llm_api.config import ConfigError, load_config
from llm_api.store import Store, StoreError

try:
    _config = load_config(os.environ)
    Store(_config.database_path).migrate()
except (ConfigError, StoreError) as _exc:
    raise SystemExit(f"llm-api: configuration error: {_exc}") from None

_workers = os.environ.get("WEB_CONCURRENCY", "2").strip() or "2"
if not _workers.isdigit() or not 1 <= int(_workers) <= 64:
    raise SystemExit(f"llm-api: configuration error: WEB_CONCURRENCY must be an integer from 1 to 64, got {_workers!r}")

bind = f"0.0.0.0:{_config.port}"
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
