"""Logging in: passwords, the failed-login limit, CSRF, the session cookie, the audit log."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import AuditLog
from tests.admin_ui.conftest import AdminClient, World, db, login_as


def test_login_with_the_right_password_opens_the_dashboard(
    admin: AdminClient, world: World
) -> None:
    """The right password logs in and lands on the dashboard."""
    response = admin.login("branch")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    assert admin.get("/admin/").status_code == 200


def test_wrong_password_is_refused_in_the_users_language(admin: AdminClient, world: World) -> None:
    """A wrong password stays on the form with a message, in Chinese by default."""
    response = admin.login("branch", "wrong-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert admin.get("/admin/").status_code == 302


def test_login_form_messages_follow_the_chosen_language(admin: AdminClient, world: World) -> None:
    """After switching to English, the same mistake is explained in English."""
    admin.post("/admin/language", {"lang": "en", "next": "/admin/login"})
    response = admin.post("/admin/login", {"username": "", "password": ""})
    text = response.get_data(as_text=True)
    assert "This field is required." in text
    assert 'lang="en"' in text


def test_five_failures_in_a_minute_then_429(admin: AdminClient, world: World) -> None:
    """The sixth attempt within the minute is refused with 429, even with the right password."""
    for _ in range(5):
        assert admin.login("branch", "nope").status_code == 200
    assert admin.login("branch").status_code == 429
    assert admin.get("/admin/").status_code == 302


def test_failures_of_another_user_from_another_address_do_not_lock_this_one(
    client: FlaskClient, world: World
) -> None:
    """The limit counts per username and per address: someone else's mistakes are theirs."""
    stranger = AdminClient(client)
    for _ in range(5):
        stranger.get("/admin/login", environ_base={"REMOTE_ADDR": "10.0.0.9"})
        stranger.client.post(
            "/admin/login",
            data={"csrf_token": stranger.token, "username": "township", "password": "x"},
            environ_base={"REMOTE_ADDR": "10.0.0.9"},
        )
    assert login_as(client, "branch").get("/admin/").status_code == 200


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, world: World) -> None:
    """Forms without the session's CSRF token are refused with 400, nothing done."""
    login_as(client, "branch")
    response = client.post("/admin/help/1/note", data={"text": "没有令牌"})
    assert response.status_code == 400
    assert 'id="csrf-error"' in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(admin: AdminClient, world: World) -> None:
    """The session cookie cannot be read by scripts and is not sent by other sites' posts."""
    admin.get("/admin/login")
    response = admin.post("/admin/login", {"username": "branch", "password": "password123"})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured(app_config: dict[str, Any]) -> None:
    """With SESSION_COOKIE_SECURE the cookie is only sent over https."""
    from gateway import create_app
    from gateway.db import get_session
    from tests.admin_ui.conftest import build_world

    app_config["SESSION_COOKIE_SECURE"] = True
    app = create_app(app_config)
    try:
        with app.app_context():
            build_world(get_session())
        admin = AdminClient(app.test_client())
        admin.get("/admin/login", base_url="https://localhost")
        response = admin.client.post(
            "/admin/login",
            data={"csrf_token": admin.token, "username": "branch", "password": "password123"},
            base_url="https://localhost",
        )
        cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
        assert "Secure" in cookie
    finally:
        app.extensions["db_engine"].dispose()


def test_next_only_leads_inside_the_admin(admin: AdminClient, world: World) -> None:
    """A login link cannot send the user to another site afterwards."""
    admin.get("/admin/login")
    inside = admin.post(
        "/admin/login?next=/admin/help", {"username": "branch", "password": "password123"}
    )
    assert inside.headers["Location"].endswith("/admin/help")
    admin.post("/admin/logout")
    admin.get("/admin/login")
    outside = admin.post(
        "/admin/login?next=https://evil.example/", {"username": "branch", "password": "password123"}
    )
    assert outside.headers["Location"].endswith("/admin/")


def test_logins_and_views_are_audited(app: Flask, client: FlaskClient, world: World) -> None:
    """A login, a failed login and a look at a member's file each leave an audit entry."""
    AdminClient(client).login("branch", "wrong")
    admin = login_as(client, "branch")
    admin.get(f"/admin/members/{world.alice}")
    with db(app) as session:
        rows = session.execute(select(AuditLog.user_id, AuditLog.action, AuditLog.target)).all()
    assert (None, "login_failed", "username:branch") in rows
    assert (world.users["branch"], "login", f"user:{world.users['branch']}") in rows
    assert (world.users["branch"], "view", f"member:{world.alice}") in rows


def test_the_audit_log_shows_the_townships_users(client: FlaskClient, world: World) -> None:
    """The township reads its users' audit entries, not another township's."""
    other = login_as(client, "other")
    other.post("/admin/logout")
    branch = login_as(client, "branch")
    branch.get(f"/admin/members/{world.alice}")
    branch.post("/admin/logout")
    text = login_as(client, "township").get("/admin/audit").get_data(as_text=True)
    assert f"<td>党员 {world.alice}</td>" in text  # member:<id>, its kind in Chinese
    assert f"<td>用户 {world.users['other']}</td>" not in text
