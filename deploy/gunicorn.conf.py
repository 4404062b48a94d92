"""gunicorn's settings for the web (the Procfile and deploy/systemd/gateway-web.service).

    gunicorn -c deploy/gunicorn.conf.py 'gateway:create_app()'

Behind nginx on the same host (deploy/nginx/gateway.conf, TRUST_PROXY=1). The /metrics
histogram of webhook latency is summed over every worker process through prometheus-client's
multiprocess mode: each worker writes its figures under PROMETHEUS_MULTIPROC_DIR.
"""

import gc
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
# The app is built once, in the master, and each worker is forked from it: the workers share
# its pages (code, templates, settings) instead of each building and holding its own copy.
preload_app = True
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

# Start with an empty metrics directory: figures of a previous run must not add up. Done as
# the master reads this file, before it builds the app (which writes its first figures), and
# once per master: reading the file again on SIGHUP keeps the figures of the running app.
if os.environ.get("GATEWAY_METRICS_DIR_OF") != str(os.getpid()):
    shutil.rmtree(_multiproc_dir, ignore_errors=True)
    os.makedirs(_multiproc_dir, exist_ok=True)
    os.environ["GATEWAY_METRICS_DIR_OF"] = str(os.getpid())


def pre_fork(server, worker):
    """Keep the garbage collector off the app's objects, so that collecting in a worker does not
    write to (and so copy) the pages it shares with the master."""
    gc.freeze()


def post_fork(server, worker):
    """A worker opens its own database connections: any the master's pool held stay the
    master's (closing them here would close them for the master too)."""
    engine = server.app.wsgi().extensions.get("db_engine")
    if engine is not None:
        engine.dispose(close=False)


def child_exit(server, worker):
    """A worker that ended: its live gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this configuration made up (not one it was given)."""
    if _own_dir:
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
