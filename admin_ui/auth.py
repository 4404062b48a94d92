"""Logging in and out, who the user is, what they may open, and the failed-login limit."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from redis import RedisError
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin_ui.blueprint import bp
from admin_ui.forms import LoginForm, PasswordForm
from infra import clients
from infra.db import get_session
from models.audit import AuditAction, audit
from models.base import utcnow
from models.scope import Scope, scope_for
from models.user import Role, User, check_password, end_sessions, set_password

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

MAX_FAILURES = 5  # failed logins allowed in a window ...
FAILURE_WINDOW_S = 60  # ... of this many seconds, then 429
FAILURE_KEY = "admin:login-failures:"
SESSION_ID_RE = re.compile(r"[0-9]{1,18}:[0-9]{1,18}")  # user id : session version

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
        """What the session cookie keeps: the user's id and session version (`12:3`)."""
        return f"{self.user.id}:{self.user.session_version}"

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
    app.extensions["admin_login_failures"] = LocalFailures()
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.session_protection = "strong"
    # Flask-Login binds a session to X-Forwarded-For as the client sent it; ours binds it to
    # the address the app trusts (the proxy's word only with TRUST_PROXY). The attribute is
    # Flask-Login's own hook for this, with no public setter.
    login_manager._session_identifier_generator = session_identifier
    csrf.init_app(app)


def session_identifier() -> str:
    """What a login session is bound to: the client's address as the app sees it, its browser."""
    base = f"{request.remote_addr}|{request.headers.get('User-Agent', '')}"
    return hashlib.sha512(base.encode("utf-8", "replace")).hexdigest()


@login_manager.user_loader
def load_account(session_id: str) -> Account | None:
    """The session's account, if the user is still active and the session not ended."""
    if not SESSION_ID_RE.fullmatch(session_id):
        return None  # a session from before versions, or not ours
    user_id, _, version = session_id.partition(":")
    user = get_session().get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
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


def record(action: AuditAction | str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Write an audit entry for the logged-in user (committed with the request's work).

    An action given by its value must be one of AuditAction's (ValueError otherwise).
    """
    user_id = current_account().id if current_user.is_authenticated else None
    audit(get_session(), user_id, AuditAction(action), target, detail, ip=request.remote_addr)


# --- failed logins ---------------------------------------------------------------------
#
# Two counts, each over the last FAILURE_WINDOW_S seconds:
# - failures for one username from one address: five lock that pair, so an attacker who
#   guesses a user's password from one place does not lock the user out everywhere else;
# - the usernames that failed from one address: five different ones lock the address, so one
#   place cannot try a password across the user list.
# There is no lock on a username alone: it would let anyone lock its owner out, and one that
# let the right password through would not slow a guesser down. Guessing one password from
# many addresses is slowed by Argon2 and this limit per address.
# The counts live in Redis, shared by every web process; when Redis does not answer, each
# process counts in its own memory, so the limit holds (per process) rather than vanishing.


def _client_address() -> str:
    # request.remote_addr is X-Forwarded-For's only with TRUST_PROXY (ProxyFix); else the peer.
    return request.remote_addr or "-"


def _normal_username(username: str) -> str:
    return username.strip().lower()[:64]


def _pair_key(username: str, address: str) -> str:
    return f"{FAILURE_KEY}pair:{address}:{_normal_username(username)}"


def _address_key(address: str) -> str:
    return f"{FAILURE_KEY}ip:{address}"


class LocalFailures:
    """Failed logins counted in this process: the limit while Redis is unreachable."""

    MAX_KEYS = 10_000  # pruned beyond this, so a flood of addresses cannot fill the memory

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[str, list[float]] = {}
        self._addresses: dict[str, dict[str, float]] = {}

    def counts(self, username: str, address: str, now: float) -> tuple[int, int]:
        """(failures of the pair, usernames failed from the address) in the window."""
        since = now - FAILURE_WINDOW_S
        with self._lock:
            pair = [t for t in self._pairs.get(_pair_key(username, address), []) if t > since]
            names = self._addresses.get(_address_key(address), {})
            return len(pair), sum(1 for t in names.values() if t > since)

    def note(self, username: str, address: str, now: float) -> None:
        """Count one failure against the pair and the address."""
        since = now - FAILURE_WINDOW_S
        with self._lock:
            if len(self._pairs) + len(self._addresses) > self.MAX_KEYS:
                self._prune(since)
            pair = self._pairs.setdefault(_pair_key(username, address), [])
            pair[:] = [t for t in pair if t > since] + [now]
            names = self._addresses.setdefault(_address_key(address), {})
            names[_normal_username(username)] = now

    def _prune(self, since: float) -> None:
        self._pairs = {k: v for k, v in self._pairs.items() if v and v[-1] > since}
        self._addresses = {
            k: v for k, v in self._addresses.items() if v and max(v.values()) > since
        }


def _local_failures() -> LocalFailures:
    failures: LocalFailures = current_app.extensions["admin_login_failures"]
    return failures


def too_many_failures(username: str) -> bool:
    """Whether this username from this address, or this address, is locked for now."""
    now = time.time()
    address = _client_address()
    try:
        pipe = clients.redis().pipeline()
        for key in (_pair_key(username, address), _address_key(address)):
            pipe.zremrangebyscore(key, 0, now - FAILURE_WINDOW_S)
            pipe.zcard(key)
        pair, names = (int(n) for n in pipe.execute()[1::2])
    except RedisError as exc:
        log.warning("login failures counted in this process, Redis unavailable: %s", exc)
        pair, names = _local_failures().counts(username, address, now)
    return pair >= MAX_FAILURES or names >= MAX_FAILURES


def note_failure(username: str) -> None:
    """Count one failed login against the username from this address, and the address."""
    now = time.time()
    address = _client_address()
    try:
        pipe = clients.redis().pipeline()
        pair_key, address_key = _pair_key(username, address), _address_key(address)
        pipe.zadd(pair_key, {uuid.uuid4().hex: now})
        pipe.expire(pair_key, FAILURE_WINDOW_S)
        pipe.zadd(address_key, {_normal_username(username): now})
        pipe.expire(address_key, FAILURE_WINDOW_S)
        pipe.execute()
    except RedisError as exc:
        log.warning("login failure counted in this process, Redis unavailable: %s", exc)
        _local_failures().note(username, address, now)


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
                user.last_login_at = utcnow()
                audit(db, user.id, AuditAction.LOGIN, f"user:{user.id}", ip=request.remote_addr)
                db.commit()
                return redirect(_safe_next(request.args.get("next")))
            note_failure(username)
            audit(
                db,
                None,
                AuditAction.LOGIN_FAILED,
                f"username:{username[:40]}",
                ip=request.remote_addr,
            )
            db.commit()
            form.password.errors.append(str(_l("Wrong username or password.")))
    return render_template("admin/login.html", form=form, too_many=False)


@bp.post("/logout")
def logout() -> Response:
    """Log out, ending the user's sessions on the server too, and go back to the login form."""
    if current_user.is_authenticated:
        end_sessions(current_account().user)
        record("logout", f"user:{current_account().id}")
        get_session().commit()
    logout_user()
    return redirect(url_for("admin.login"))


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> str | Response | tuple[str, int]:
    """Change one's own password; every other session of the user ends, this one goes on."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    form = PasswordForm()
    user = current_account().user
    if request.method == "POST":
        if too_many_failures(user.username):
            return render_template("admin/password.html", form=form, too_many=True), 429
        if form.validate_on_submit():
            if check_password(user, form.current_password.data or ""):
                set_password(user, form.new_password.data or "")  # ends every session
                record("password_changed", f"user:{user.id}")
                get_session().commit()
                login_user(Account(user))  # this session, under the new version
                flash(_l("Password changed. Your other sessions are logged out."), "success")
                return redirect(url_for("admin.dashboard"))
            note_failure(user.username)
            form.current_password.errors.append(str(_l("Wrong password.")))
        return render_template("admin/password.html", form=form, too_many=False), 400
    return render_template("admin/password.html", form=form, too_many=False)


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
