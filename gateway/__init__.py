"""The HTTP edge: the app factory, Twilio webhooks, the provider and the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from gateway import limits, ops
from infra import db, logs
from infra.config import load_config, uses_sandbox
from models.clock import use_clock_file
from models.numbers import INT_MAX


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI app: settings, database, clients, blueprints and commands."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(load_config(config))
    if not app.testing:
        # Tests read the records through pytest; a server logs JSON lines to stderr.
        logs.configure(app.config)
    logs.init_sentry(app.config, component="web")
    use_clock_file(app.config["CLOCK_FILE"] or None)
    # Flask's defaults already hold these keys (SameSite as None), so setdefault would not do.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    # First: its hooks time and log every request, those the others answer early included.
    ops.init_app(app)
    limits.init_app(app)
    if app.config["TRUST_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]  # Flask documents wrapping wsgi_app
    app.session_interface = NoSessionForWebhooks()
    app.after_request(security_headers)
    # Before any route is added: every `<int:…>` of every blueprint is a BoundedInt.
    app.url_map.converters["int"] = BoundedInt
    db.init_app(app)
    # The sandbox, demo and simulators: imported only when this app carries them.
    app.extensions["devtools"] = uses_sandbox(app.config) or app.debug

    from gateway import commands, errors
    from infra import clients

    clients.init_app(app)
    errors.init_app(app)
    commands.init_app(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    import importlib

    for module_name in (
        "gateway.sms",
        "gateway.voice",
        "gateway.status",
        "gateway.cn_push",
        "gateway.cn_texts",
        "gateway.cn_tencent",
        "gateway.cn_aliyun",
        "gateway.media",
        "admin_ui",
    ):
        importlib.import_module(module_name).init_app(app)


# Pages run only the app's own scripts and styles (no inline ones, no style attributes), talk
# only to the app, and may not be framed by any site.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def security_headers(response: Response) -> Response:
    """Headers every response carries; admin pages (not their static files) are never stored."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    path = request.path
    if (path == "/admin" or path.startswith("/admin/")) and not path.startswith("/admin/static/"):
        # Member data must not stay in a shared computer's cache or come back with Back.
        headers["Cache-Control"] = "no-store"
    return response


class BoundedInt(IntegerConverter):
    """`<int:…>` in every route: a number larger than an id column holds matches no route
    (404), instead of reaching the database and failing there.

    The pattern itself stops at ten ASCII digits: werkzeug tries a rule's method before its
    converter, so a longer number that only the converter refused would make a POST route
    with a GET twin answer 405.
    """

    regex = r"[0-9]{1,10}"

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, INT_MAX if max is None else max, signed)


# Where Twilio calls us: requests that carry no cookie and must not be sent one.
WEBHOOK_PATHS = ("/sms", "/status", "/voice", "/cn")
_WEBHOOK_PREFIXES = tuple(path + "/" for path in WEBHOOK_PATHS)


class NoSessionForWebhooks(SecureCookieSessionInterface):
    """The admin's cookie session, not opened for Twilio's webhooks.

    Opening and saving a signed cookie session costs about a tenth of a text's whole handling,
    for requests that have no cookie; Flask gives them a read-only empty session instead.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """No session on the webhook paths; the signed cookie session elsewhere."""
        path = request.path
        if path in WEBHOOK_PATHS or path.startswith(_WEBHOOK_PREFIXES):
            return None
        return super().open_session(app, request)
