"""gunicorn's settings for the web (the Procfile and deploy/systemd/gateway-web.service).

    gunicorn -c deploy/gunicorn.conf.py 'gateway:create_app()'

Behind nginx on the same host (deploy/nginx/gateway.conf, TRUST_PROXY=1). The /metrics
histogram of webhook latency is summed over every worker process through prometheus-client's
multiprocess mode: each worker writes its figures under PROMETHEUS_MULTIPROC_DIR.
"""

import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:" + os.environ.get("PORT", "5000"))
# Sync workers: each request holds one database connection at most (pool of 5 + 10 per
# process, see the README's connection budget). Two per core is plenty for webhooks.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# Twilio gives up on a webhook after 15 s; the app answers 503 well before (infra/db.py).
timeout = 30
graceful_timeout = 20
keepalive = 5
# A worker is replaced after this many requests (with jitter), so a slow leak cannot grow.
max_requests = 5000
max_requests_jitter = 500
# The app writes one JSON line per request itself (gateway/ops.py), with the MessageSid.
accesslog = None
errorlog = "-"
forwarded_allow_ips = "127.0.0.1"

_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_dir = not _multiproc_dir
if not _multiproc_dir:
    _multiproc_dir = os.path.join(tempfile.gettempdir(), f"gateway-metrics-{os.getpid()}")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiproc_dir


def on_starting(server):
    """Start with an empty metrics directory: figures of a previous run must not add up."""
    shutil.rmtree(_multiproc_dir, ignore_errors=True)
    os.makedirs(_multiproc_dir, exist_ok=True)


def child_exit(server, worker):
    """A worker that ended: its live gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this configuration made up (not one it was given)."""
    if _own_dir:
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
