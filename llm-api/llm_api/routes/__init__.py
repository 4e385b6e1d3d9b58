"""One blueprint per route group: chat, models, sessions, worker_proxy (the routes the worker answers), health."""
