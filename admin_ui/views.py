"""Admin pages."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
def dashboard() -> Response:
    """The dashboard; until someone logs in, the login page."""
    return redirect(url_for("admin.login"))


@bp.get("/login")
def login() -> str:
    """The login form."""
    return (
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>登录</title>"
        "<form method='post'><input name='username'><input name='password' type='password'>"
        "<button>登录 Log in</button></form></html>"
    )
