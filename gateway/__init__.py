"""The HTTP edge: the app factory, Twilio webhooks, the provider and the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import db, limits
from gateway.config import load_config
from models.clock import use_clock_file


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI app: settings, database, clients, blueprints and commands."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(load_config(config))
    use_clock_file(app.config["CLOCK_FILE"] or None)
    # Flask's defaults already hold these keys (SameSite as None), so setdefault would not do.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    limits.init_app(app)
    if app.config["TRUST_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]  # Flask documents wrapping wsgi_app
    app.session_interface = NoSessionForWebhooks()
    db.init_app(app)

    from gateway import clients, commands, errors

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
        "gateway.media",
        "admin_ui",
    ):
        importlib.import_module(module_name).init_app(app)


# Where Twilio calls us: requests that carry no cookie and must not be sent one.
WEBHOOK_PATHS = ("/sms", "/status", "/voice")
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
