"""What an operator and a load balancer ask the web: `/healthz`, `/readyz`, `/metrics`; and
each request's log line, with the ids it carries, and its webhook latency."""

from __future__ import annotations

import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis import Redis
from sqlalchemy import text

from infra import logs
from infra.metrics import WEBHOOK_LATENCY, web_registry

bp = Blueprint("ops", __name__)
log = logging.getLogger("gateway.request")

# Each dependency must answer /readyz within this.
READY_TIMEOUT_S = 1.0
# The Twilio webhooks, whose form carries the ids a log line is bound to.
_TWILIO_PREFIXES = ("/sms", "/voice", "/status")
_OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@bp.get("/healthz")
def healthz() -> Response:
    """200 while the process serves requests; it asks nothing else."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when the database and Redis both answer within a second; else 503 naming which
    do not (a load balancer takes the host out until they do)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug's proxy
    checks = {"database": lambda: _ping_database(app), "redis": lambda: _ping_redis(app)}
    pool: ThreadPoolExecutor = app.extensions["ops_ready_pool"]
    futures = {name: pool.submit(check) for name, check in checks.items()}
    deadline = time.monotonic() + READY_TIMEOUT_S
    results: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
            results[name] = "ok"
        except FutureTimeout:
            results[name] = "timeout"
        except Exception as exc:  # any failure to answer is "down", named, never a 500
            results[name] = f"error: {type(exc).__name__}"
    down = sorted(name for name, result in results.items() if result != "ok")
    body = {"status": "ready" if not down else "not ready", "checks": results, "down": down}
    return jsonify(body), 200 if not down else 503


def _ping_database(app: Flask) -> None:
    with app.extensions["ops_ready_engine"].connect() as conn:
        conn.execute(text("SELECT 1"))


def _ping_redis(app: Flask) -> None:
    client: Redis = app.extensions["ops_ready_redis"]
    client.ping()


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus text format, for a scraper holding METRICS_TOKEN; 404 when unset."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return Response("not found\n", 404, mimetype="text/plain")
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer "):
        return Response(
            "metrics need Authorization: Bearer <METRICS_TOKEN>\n",
            401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if not hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), token.encode()):
        return Response("wrong metrics token\n", 403, mimetype="text/plain")
    registry = web_registry(current_app._get_current_object())  # type: ignore[attr-defined]
    return Response(generate_latest(registry), 200, content_type=CONTENT_TYPE_LATEST)


def _route_family(path: str) -> str | None:
    """The webhook family a path belongs to (sms, voice, status, cn), or None."""
    from gateway import WEBHOOK_PATHS

    for prefix in WEBHOOK_PATHS:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix.strip("/")
    return None


def _before() -> None:
    g.ops_started = time.perf_counter()
    logs.clear()
    path = request.path
    if (
        path.startswith(_TWILIO_PREFIXES)
        and request.mimetype == "application/x-www-form-urlencoded"
    ):
        form = request.form
        logs.bind(
            MessageSid=form.get("MessageSid") or form.get("SmsSid"),
            CallSid=form.get("CallSid"),
        )
    elif path.startswith("/admin") and not path.startswith("/admin/static/"):
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            logs.bind(user_id=current_user.get_id())


def _after(response: Response) -> Response:
    started = g.pop("ops_started", None)
    if started is None:
        return response
    elapsed = time.perf_counter() - started
    path = request.path
    family = _route_family(path)
    if family is not None:
        WEBHOOK_LATENCY.labels(family).observe(elapsed)
    if path not in _OPS_PATHS and not path.startswith("/admin/static/"):
        extra: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 1),
        }
        log.info("%s %s %s", request.method, path, response.status_code, extra=extra)
    return response


def _teardown(_exc: BaseException | None) -> None:
    logs.clear()


def init_app(app: Flask) -> None:
    """The routes, the request hooks, and the short-timeout clients /readyz pings with."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    url = app.config["DATABASE_URL"]
    connect_args: dict[str, Any] = {}
    if not url.startswith("sqlite"):
        # libpq's connect_timeout floors at 2 s; the thread's deadline makes it 1.
        connect_args = {"connect_timeout": 2, "options": "-c statement_timeout=1000"}
    else:
        connect_args = {"timeout": READY_TIMEOUT_S}
    # Its own unpooled engine: a ping must not wait behind busy requests for a pooled one.
    app.extensions["ops_ready_engine"] = create_engine(
        url, poolclass=NullPool, connect_args=connect_args
    )
    app.extensions["ops_ready_redis"] = Redis.from_url(
        app.config["REDIS_URL"],
        socket_connect_timeout=READY_TIMEOUT_S,
        socket_timeout=READY_TIMEOUT_S,
    )
    app.extensions["ops_ready_pool"] = ThreadPoolExecutor(
        max_workers=4, thread_name_prefix="readyz"
    )
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
    app.register_blueprint(bp)
