"""Logging in and out, who the user is, what they may open, and the failed-login limit."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, abort, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from redis import RedisError
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin_ui.blueprint import bp
from admin_ui.forms import LoginForm
from gateway import clients
from gateway.db import get_session
from models.audit import audit
from models.scope import Scope, scope_for
from models.user import Role, User, check_password, set_password

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

MAX_FAILURES = 5  # failed logins allowed in a window ...
FAILURE_WINDOW_S = 60  # ... of this many seconds, then 429
FAILURE_KEY = "admin:login-failures:"

EVERYONE = (Role.TOWNSHIP, Role.BRANCH, Role.LIAISON, Role.HOST)
STAFF = (Role.TOWNSHIP, Role.BRANCH)
FOLLOW_UP = (Role.TOWNSHIP, Role.BRANCH, Role.LIAISON)
TOWNSHIP_ONLY = (Role.TOWNSHIP,)

login_manager = LoginManager()
csrf = CSRFProtect()


class Account(UserMixin):
    """The logged-in admin user as Flask-Login sees it."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.id = user.id
        self.role = user.role
        self.language = user.language

    def get_id(self) -> str:
        """The id kept in the session cookie."""
        return str(self.user.id)

    @property
    def is_active(self) -> bool:
        """A deactivated user is logged out at the next request."""
        return bool(self.user.active)


def init_app(app: Flask) -> None:
    """Flask-Login and CSRF for the admin only: Twilio's webhooks carry no CSRF token."""
    # CSRF is checked by the admin blueprint itself (below), not on every view of the app.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # Flask's defaults already hold these keys (SameSite None), so setdefault would not do.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the whole login session
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config.get("SESSION_COOKIE_SECURE", False))
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.session_protection = "strong"
    csrf.init_app(app)


@login_manager.user_loader
def load_account(user_id: str) -> Account | None:
    """The account of the session's user id, if it still exists and is active."""
    if not user_id.isdigit():
        return None
    user = get_session().get(User, int(user_id))
    if user is None or not user.active:
        return None
    return Account(user)


@bp.before_request
def check_csrf() -> None:
    """Every form posted to the admin carries the session's CSRF token."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


def current_account() -> Account:
    """The logged-in account (views behind `require` only)."""
    return cast(Account, current_user._get_current_object())


def current_scope() -> Scope:
    """What the logged-in user may see, computed once per request."""
    if "admin_scope" not in g:
        g.admin_scope = scope_for(get_session(), current_account().user)
    scope: Scope = g.admin_scope
    return scope


def require(*roles: Role) -> Callable[[F], F]:
    """Let in logged-in users with one of these roles; others get 403, strangers the login."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_account().role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def record(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Write an audit entry for the logged-in user (committed with the request's work)."""
    user_id = current_account().id if current_user.is_authenticated else None
    audit(get_session(), user_id, action, target, detail, ip=request.remote_addr)


# --- failed logins ---------------------------------------------------------------------


def _failure_keys(username: str) -> list[str]:
    return [
        f"{FAILURE_KEY}user:{username.strip().lower()}",
        f"{FAILURE_KEY}ip:{request.remote_addr or '-'}",
    ]


def too_many_failures(username: str) -> bool:
    """Whether this username or address failed MAX_FAILURES times in the last window."""
    now = time.time()
    try:
        pipe = clients.redis().pipeline()
        for key in _failure_keys(username):
            pipe.zremrangebyscore(key, 0, now - FAILURE_WINDOW_S)
            pipe.zcard(key)
        counts = pipe.execute()[1::2]
    except RedisError as exc:
        # Without Redis the limit cannot be counted; logging in must still work.
        log.warning("login failure count unavailable: %s", exc)
        return False
    return any(int(n) >= MAX_FAILURES for n in counts)


def note_failure(username: str) -> None:
    """Count one failed login against the username and the address."""
    now = time.time()
    try:
        pipe = clients.redis().pipeline()
        for key in _failure_keys(username):
            pipe.zadd(key, {uuid.uuid4().hex: now})
            pipe.expire(key, FAILURE_WINDOW_S)
        pipe.execute()
    except RedisError as exc:
        log.warning("login failure not counted: %s", exc)


_dummy: User | None = None


def _dummy_user() -> User:
    # Checking a password against a throwaway hash when the username is unknown makes a
    # wrong username take as long as a wrong password.
    global _dummy
    if _dummy is None:
        user = User(username="", role=Role.BRANCH, org_id=0)
        set_password(user, uuid.uuid4().hex)
        _dummy = user
    return _dummy


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/admin"):
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """The login form; after five failures in a minute, 429 until the minute has passed."""
    form = LoginForm()
    if request.method == "POST":
        username = (form.username.data or "").strip()
        if too_many_failures(username):
            return render_template("admin/login.html", form=form, too_many=True), 429
        if form.validate_on_submit():
            db = get_session()
            user = db.scalar(select(User).where(User.username == username))
            password = form.password.data or ""
            valid = check_password(user or _dummy_user(), password)
            if user is not None and valid and user.active:
                language = session.get("lang")
                session.clear()
                if language:
                    session["lang"] = language
                login_user(Account(user))
                audit(db, user.id, "login", f"user:{user.id}", ip=request.remote_addr)
                db.commit()
                return redirect(_safe_next(request.args.get("next")))
            note_failure(username)
            audit(db, None, "login_failed", f"username:{username[:40]}", ip=request.remote_addr)
            db.commit()
            form.password.errors.append(str(_l("Wrong username or password.")))
    return render_template("admin/login.html", form=form, too_many=False)


@bp.post("/logout")
def logout() -> Response:
    """Log out and go back to the login form."""
    if current_user.is_authenticated:
        record("logout", f"user:{current_account().id}")
        get_session().commit()
    logout_user()
    return redirect(url_for("admin.login"))


__all__ = [
    "EVERYONE",
    "FOLLOW_UP",
    "MAX_FAILURES",
    "STAFF",
    "TOWNSHIP_ONLY",
    "Account",
    "csrf",
    "current_account",
    "current_scope",
    "init_app",
    "login_manager",
    "record",
    "require",
]
