"""gunicorn settings for the model-worker (gunicorn 27).

ONE worker process: the models live in it (a second process would load a second copy onto the GPU). Threads
(gthread) let /healthz, /readyz and queued requests be answered while an inference runs; each model still runs one
inference at a time (ModelSlot). The timeout is long because a streamed answer holds its thread.
"""

import os

bind = f"0.0.0.0:{os.environ.get('AIP_HTTP_PORT') or os.environ.get('PORT') or '8000'}"
workers = 1
# gthread that buffers each request in its poller (deadline BODY_TIMEOUT_S) and hands only whole requests to its
# threads, so trickling clients hold none; gunicorn's own rejections (414, 431, 400, ...) as the contract's JSON.
worker_class = "model_worker.gunicorn_worker.JsonErrorBufferingWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "900"))
graceful_timeout = 30
keepalive = 5
control_socket_disable = True  # gunicorn 27 otherwise opens a control socket under ~/.gunicorn
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
