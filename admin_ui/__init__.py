"""The branch and township admin: a Flask blueprint under /admin."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the admin blueprint."""
    from admin_ui.views import bp

    app.register_blueprint(bp)
