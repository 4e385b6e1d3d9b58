"""The WSGI entry point gunicorn serves: `model_worker.wsgi:app` (models start loading in the background)."""

import logging
import os
import sys

from .app import create_app
from .config import ConfigError, WorkerConfig

logging.basicConfig(
    level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    stream=sys.stderr,
)

# gunicorn stops (instead of restarting the worker forever) when a worker exits with this code.
GUNICORN_WORKER_BOOT_ERROR = 3

try:
    _config = WorkerConfig.from_env()
except ConfigError as exc:
    logging.getLogger("model_worker").error("invalid configuration: %s", exc)
    raise SystemExit(GUNICORN_WORKER_BOOT_ERROR) from None

app = create_app(_config)
