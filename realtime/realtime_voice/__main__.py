"""`python -m realtime_voice`: load the model in the background and serve at once (`/healthz` says how far)."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from .app import create_app
from .config import ConfigError, load_config
from .engine import Engine


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"realtime: configuration error: {exc}", file=sys.stderr)
        return 2
    engine = Engine(config)
    engine.start()
    web.run_app(create_app(config, engine), host=config.host, port=config.port, shutdown_timeout=5,
                access_log_format='%a "%r" %s %b %Tfs', print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
