"""gunicorn settings for the model-worker (gunicorn 27).

ONE worker process: the models live in it (a second process would load a second copy onto the GPU). Threads
(gthread) let /healthz, /readyz and queued requests be answered while an inference runs; each model still runs one
inference at a time (ModelSlot). The timeout is long because a streamed answer holds its thread.
Metrics: prometheus_client's multiprocess mode (below), so request counts outlive a restarted worker process.
"""

import os
import shutil
import tempfile

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

# Prometheus multiprocess mode (model_worker/metrics.py): the worker process writes its request metrics into
# PROMETHEUS_MULTIPROC_DIR, set here before it imports prometheus_client (unset: a private temporary directory,
# removed on exit), wiped at each start; a dead worker's live gauges are dropped when it exits.
_METRICS_DIR_PREFIX = "model-worker-metrics-"
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
