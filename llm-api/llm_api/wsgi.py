"""The WSGI entry point gunicorn serves: `llm_api.wsgi:app`."""

import logging

from .app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
app = create_app()
