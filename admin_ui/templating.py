"""What every admin template can use: the menu, labels, dates, and the error pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from admin_ui.auth import EVERYONE, FOLLOW_UP, STAFF, TOWNSHIP_ONLY, current_account
from admin_ui.blueprint import bp
from admin_ui.helpers import page_url
from admin_ui.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    audit_detail,
    audit_target,
    contact_note,
    label,
)
from gateway.limits import is_upload_route
from infra.db import get_session
from models.privacy import mask_phone
from models.user import Role

# The menu: endpoint, label, who sees it.
NAV: tuple[tuple[str, Any, tuple[Role, ...]], ...] = (
    ("admin.dashboard", _l("Dashboard"), EVERYONE),
    ("admin.members", _l("Members"), EVERYONE),
    ("admin.reports", _l("Reports"), FOLLOW_UP),
    ("admin.nonreporters", _l("Non-reporters"), STAFF),
    ("admin.inbox", _l("Inbox"), STAFF),
    ("admin.help_list", _l("Help requests"), FOLLOW_UP),
    ("admin.tasks", _l("Tasks"), FOLLOW_UP),
    ("admin.broadcasts", _l("Broadcasts"), STAFF),
    ("admin.surveys", _l("Surveys"), STAFF),
    ("admin.approvals", _l("Approvals"), TOWNSHIP_ONLY),
    ("admin.lessons", _l("Lessons"), STAFF),
    ("admin.activities", _l("Activities"), (Role.TOWNSHIP, Role.BRANCH, Role.HOST)),
    ("admin.review", _l("Yearly review"), STAFF),
    ("admin.inspection", _l("Inspection"), TOWNSHIP_ONLY),
    ("admin.register", _l("Register upload"), STAFF),
    ("admin.settings", _l("Settings"), STAFF),
    ("admin.audit", _l("Audit log"), TOWNSHIP_ONLY),
    ("admin.access_review_page", _l("Access review"), TOWNSHIP_ONLY),
    ("admin.privacy_settings", _l("Privacy"), TOWNSHIP_ONLY),
    ("admin.phone", _l("Phone simulator"), STAFF),
)


def init_app(app: Flask) -> None:
    """Filters for dates and shares; helpers macros use too (imported macros see globals only)."""
    app.jinja_env.filters.setdefault("dt", format_datetime)
    app.jinja_env.filters.setdefault("pct", format_percent)
    app.jinja_env.filters.setdefault("masked", mask_phone)
    app.jinja_env.globals.setdefault("page_url", page_url)
    app.jinja_env.globals.setdefault("label", label)
    app.jinja_env.globals.setdefault("audit_target", audit_target)
    app.jinja_env.globals.setdefault("audit_detail", audit_detail)
    app.jinja_env.globals.setdefault("contact_note", contact_note)


def format_datetime(value: datetime | None, with_time: bool = True) -> str:
    """A stored UTC time in the app's time zone, as 2026-03-01 19:05."""
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config.get("TIMEZONE") or "Asia/Shanghai")
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def format_percent(value: float) -> str:
    """A share as a whole percentage."""
    return f"{value * 100:.0f}%"


@bp.app_context_processor
def admin_context() -> dict[str, Any]:
    """The menu for the user's role, labels, and the language switch."""
    nav: list[tuple[str, Any]] = []
    if request.blueprint == "admin" and current_user.is_authenticated:
        role = current_account().role
        sandbox = current_app.config.get("PROVIDER") == "sandbox"
        nav = [
            (endpoint, text)
            for endpoint, text, roles in NAV
            if role in roles and (endpoint != "admin.phone" or sandbox)
        ]
    locale = get_locale()
    return {
        "nav": nav,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        # Babel spells Chinese zh_Hans_CN; the switch and <html lang> use our two codes.
        "current_language": "en" if locale is not None and locale.language == "en" else "zh_CN",
    }


@bp.post("/language")
def language() -> Response:
    """Switch the page language (and the user's own, when logged in)."""
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        if current_user.is_authenticated:
            current_account().user.language = chosen
            get_session().commit()
    back = request.form.get("next", "")
    if not back.startswith("/admin"):
        back = url_for("admin.dashboard")
    return redirect(back)


def _error(code: int, message: Any, csrf: bool = False) -> tuple[str, int]:
    return render_template("admin/error.html", code=code, message=message, csrf=csrf), code


@bp.errorhandler(CSRFError)
def csrf_error(_exc: CSRFError) -> tuple[str, int]:
    """A form without a valid CSRF token: say so, in the user's language."""
    return _error(
        400,
        _l(
            "The form has expired or was not sent from this site. Go back, reload the page and try again."
        ),
        csrf=True,
    )


@bp.errorhandler(403)
def forbidden(_exc: HTTPException) -> tuple[str, int]:
    """A page this role may not open."""
    return _error(403, _l("Your role may not open this page."))


@bp.errorhandler(404)
def not_found(_exc: HTTPException) -> tuple[str, int]:
    """Nothing here, or nothing this user may see."""
    return _error(404, _l("There is nothing here, or it is not in your organisation."))


@bp.errorhandler(413)
def too_large(_exc: HTTPException) -> tuple[str, int]:
    """A body over the route's limit: an upload, or a form far larger than any real one."""
    if not is_upload_route():
        return _error(413, _l("What was sent is too large for this form."))
    limit = current_app.config.get("MAX_UPLOAD_MB", 20)
    return _error(413, _l("The file is too large: at most %(mb)s MB.", mb=limit))
