"""The branch and township admin: a Flask blueprint under /admin."""

from __future__ import annotations

import importlib

from flask import Flask

# One module per page under admin_ui/views; importing one adds its routes to the blueprint.
PAGES = (
    "dashboard",
    "members",
    "reports",
    "nonreporters",
    "inbox",
    "help",
    "tasks",
    "broadcasts",
    "surveys",
    "lessons",
    "review",
    "deeds",
    "register",
    "settings",
    "audit",
    "approvals",
    "inspection",
    "privacy",
)
# Pages of the development tools (devtools): only with PROVIDER=sandbox or in debug.
DEV_PAGES = ("phone",)


def init_app(app: Flask) -> None:
    """Register the admin blueprint with its login, CSRF, languages and templates."""
    from admin_ui import auth, i18n, templating
    from admin_ui.blueprint import bp

    pages = PAGES + DEV_PAGES if app.extensions.get("devtools") else PAGES
    for page in pages:
        importlib.import_module(f"admin_ui.views.{page}")
    i18n.init_app(app)
    auth.init_app(app)
    templating.init_app(app)
    app.register_blueprint(bp)
