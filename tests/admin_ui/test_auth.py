"""Logging in: passwords, the failed-login limit, CSRF, the session cookie and its end, the
audit log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from devtools.browser import serve
from devtools.servers import free_port
from gateway import create_app
from infra.db import get_session
from models import AuditLog
from tests.admin_ui.world import (
    PASSWORD,
    TOKEN_RE,
    AdminClient,
    World,
    build_world,
    db,
    login_as,
)


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
    from infra.db import get_session
    from tests.admin_ui.world import build_world

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


# --- the failed-login limit --------------------------------------------------------------


def _attempt(client: FlaskClient, address: str, username: str, password: str) -> int:
    """One login through the form from `address`; the response's status code."""
    form = AdminClient(client)
    form.get("/admin/login", environ_base={"REMOTE_ADDR": address})
    response = client.post(
        "/admin/login",
        data={"csrf_token": form.token, "username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_an_attacker_cannot_lock_the_owner_out(app: Flask, world: World) -> None:
    """Five wrong passwords for `branch` from one address lock that address, not the owner."""
    attacker, owner = app.test_client(), app.test_client()
    for _ in range(5):
        assert _attempt(attacker, "203.0.113.7", "branch", "guess") == 200
    assert _attempt(attacker, "203.0.113.7", "branch", PASSWORD) == 429
    assert _attempt(owner, "198.51.100.4", "branch", PASSWORD) == 302


def test_five_usernames_failed_from_one_address_lock_the_address(app: Flask, world: World) -> None:
    """Trying a password across five usernames locks the address for every user."""
    spray = app.test_client()
    for username in ("township", "liaison", "host", "west", "nobody"):
        assert _attempt(spray, "203.0.113.8", username, "password1") == 200
    assert _attempt(spray, "203.0.113.8", "branch", PASSWORD) == 429
    # Another address is not concerned.
    assert _attempt(app.test_client(), "198.51.100.5", "branch", PASSWORD) == 302


def test_four_usernames_failed_once_do_not_lock_the_address(app: Flask, world: World) -> None:
    """An office where four people mistype once each still logs in."""
    office = app.test_client()
    for username in ("township", "liaison", "host", "west"):
        assert _attempt(office, "203.0.113.9", username, "typo") == 200
    assert _attempt(office, "203.0.113.9", "branch", PASSWORD) == 302


def test_the_limit_holds_without_redis(app_config: dict[str, Any]) -> None:
    """With Redis unreachable the failures are counted in the process: the sixth is a 429."""
    app_config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_app(app_config)
    try:
        with app.app_context():
            build_world(get_session())
        client = app.test_client()
        for _ in range(5):
            assert _attempt(client, "203.0.113.10", "branch", "guess") == 200
        assert _attempt(client, "203.0.113.10", "branch", PASSWORD) == 429
        assert _attempt(client, "198.51.100.6", "branch", PASSWORD) == 302
    finally:
        app.extensions["db_engine"].dispose()


# --- sessions end on the server ----------------------------------------------------------


@pytest.fixture
def live(app: Flask, world: World) -> Iterator[str]:
    """The world's app served over real HTTP on a free port."""
    with serve(app, free_port()) as url:
        yield url


def _token(html: str) -> str:
    found = TOKEN_RE.search(html)
    assert found is not None
    return found.group(1)


def http_login(base: str, username: str, password: str = PASSWORD) -> requests.Session:
    """A browser-like HTTP session logged in through the form."""
    browser = requests.Session()
    token = _token(browser.get(f"{base}/admin/login", timeout=10).text)
    response = browser.post(
        f"{base}/admin/login",
        data={"csrf_token": token, "username": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:300]
    return browser


def replay(base: str, cookie: str, path: str = "/admin/audit") -> requests.Response:
    """GET a page with nothing but a kept session cookie, as a thief would."""
    return requests.get(
        f"{base}{path}", cookies={"session": cookie}, allow_redirects=False, timeout=10
    )


def test_a_cookie_kept_from_before_logout_opens_nothing(live: str) -> None:
    """Log out, replay the cookie saved before: the login form, not the audit log."""
    browser = http_login(live, "township")
    assert browser.get(f"{live}/admin/audit", timeout=10).status_code == 200
    kept = browser.cookies["session"]
    assert replay(live, kept).status_code == 200
    token = _token(browser.get(f"{live}/admin/", timeout=10).text)
    browser.post(f"{live}/admin/logout", data={"csrf_token": token}, timeout=10)
    response = replay(live, kept)
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_a_password_change_ends_the_users_other_sessions(live: str) -> None:
    """Changing the password in one session logs out the others; the changing one goes on."""
    elsewhere = http_login(live, "township")
    kept = elsewhere.cookies["session"]
    here = http_login(live, "township")
    page = here.get(f"{live}/admin/password", timeout=10)
    assert page.status_code == 200
    changed = here.post(
        f"{live}/admin/password",
        data={
            "csrf_token": _token(page.text),
            "current_password": PASSWORD,
            "new_password": "a-new-password-9",
            "confirm": "a-new-password-9",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert changed.status_code == 302
    assert replay(live, kept).status_code == 302
    assert (
        elsewhere.get(f"{live}/admin/audit", allow_redirects=False, timeout=10).status_code == 302
    )
    assert here.get(f"{live}/admin/audit", allow_redirects=False, timeout=10).status_code == 200
    http_login(live, "township", "a-new-password-9")


def test_a_wrong_current_password_changes_nothing(live: str) -> None:
    """The password form wants the current password; a wrong one leaves every session alive."""
    elsewhere = http_login(live, "township")
    here = http_login(live, "township")
    page = here.get(f"{live}/admin/password", timeout=10)
    refused = here.post(
        f"{live}/admin/password",
        data={
            "csrf_token": _token(page.text),
            "current_password": "not-it",
            "new_password": "a-new-password-9",
            "confirm": "a-new-password-9",
        },
        timeout=10,
    )
    assert refused.status_code == 400
    assert (
        elsewhere.get(f"{live}/admin/audit", allow_redirects=False, timeout=10).status_code == 200
    )
    http_login(live, "township")


def test_disabling_a_user_ends_their_sessions(app: Flask, live: str, world: World) -> None:
    """`flask users disable` logs the user out everywhere, and they cannot log in again."""
    kept = http_login(live, "township").cookies["session"]
    assert replay(live, kept).status_code == 200
    result = app.test_cli_runner().invoke(args=["users", "disable", "--username", "township"])
    assert result.exit_code == 0, result.output
    assert replay(live, kept).status_code == 302
    browser = requests.Session()
    token = _token(browser.get(f"{live}/admin/login", timeout=10).text)
    again = browser.post(
        f"{live}/admin/login",
        data={"csrf_token": token, "username": "township", "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert again.status_code == 200


def test_a_password_set_on_the_command_line_ends_the_sessions(
    app: Flask, live: str, world: World
) -> None:
    """`flask users password` logs the user out everywhere; the new password works."""
    kept = http_login(live, "branch").cookies["session"]
    result = app.test_cli_runner().invoke(
        args=["users", "password", "--username", "branch", "--password", "another-pass-7"]
    )
    assert result.exit_code == 0, result.output
    assert replay(live, kept, "/admin/").status_code == 302
    http_login(live, "branch", "another-pass-7")


def _get(client: FlaskClient, path: str, peer: str, forwarded: str) -> int:
    response = client.get(
        path, environ_base={"REMOTE_ADDR": peer}, headers={"X-Forwarded-For": forwarded}
    )
    return response.status_code


def _login_from(client: FlaskClient, peer: str, forwarded: str) -> None:
    form = AdminClient(client)
    env = {"REMOTE_ADDR": peer}
    headers = {"X-Forwarded-For": forwarded}
    form.get("/admin/login", environ_base=env, headers=headers)
    response = client.post(
        "/admin/login",
        data={"csrf_token": form.token, "username": "branch", "password": PASSWORD},
        environ_base=env,
        headers=headers,
    )
    assert response.status_code == 302


def test_without_trust_proxy_the_session_ignores_x_forwarded_for(
    client: FlaskClient, world: World
) -> None:
    """The session is bound to the real peer: a client-sent X-Forwarded-For neither lets a
    stolen cookie in from elsewhere nor logs its owner out."""
    _login_from(client, "10.0.0.1", "192.0.2.1")
    assert _get(client, "/admin/", "10.0.0.1", "192.0.2.99") == 200
    assert _get(client, "/admin/", "10.0.0.2", "192.0.2.1") == 302


def test_behind_a_trusted_proxy_the_session_follows_x_forwarded_for(
    app_config: dict[str, Any],
) -> None:
    """With TRUST_PROXY the proxy's X-Forwarded-For is the client's address, and binds."""
    app_config["TRUST_PROXY"] = True
    app = create_app(app_config)
    try:
        with app.app_context():
            build_world(get_session())
        client = app.test_client()
        _login_from(client, "10.0.0.1", "192.0.2.1")
        assert _get(client, "/admin/", "10.0.0.1", "192.0.2.1") == 200
        assert _get(client, "/admin/", "10.0.0.1", "192.0.2.99") == 302
    finally:
        app.extensions["db_engine"].dispose()
