"""Who may open what: every admin route walked by every role and by a stranger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.admin_ui.world import AdminClient, World, login_as

ALL = frozenset({"township", "branch", "liaison", "host"})
STAFF = frozenset({"township", "branch"})
FOLLOW_UP = frozenset({"township", "branch", "liaison"})
TOWNSHIP = frozenset({"township"})
PUBLIC = frozenset({"township", "branch", "liaison", "host", "anonymous"})
DECIDERS = frozenset({"township", "branch", "host"})
CALLERS = frozenset({"branch", "liaison"})

Url = Callable[[World], str]

# endpoint, method, address, who gets it. Every admin route must be here (checked below).
ROUTES: list[tuple[str, str, Url, frozenset[str]]] = [
    ("admin.login", "GET", lambda w: "/admin/login", PUBLIC),
    ("admin.dashboard", "GET", lambda w: "/admin/", ALL),
    ("admin.members", "GET", lambda w: "/admin/members?q=王", ALL),
    ("admin.member_file", "GET", lambda w: f"/admin/members/{w.alice}", ALL),
    ("admin.member_edit", "GET", lambda w: f"/admin/members/{w.alice}/edit", STAFF),
    ("admin.member_edit", "POST", lambda w: f"/admin/members/{w.alice}/edit", STAFF),
    ("admin.member_phone", "POST", lambda w: f"/admin/members/{w.alice}/phone", STAFF),
    ("admin.member_contact", "POST", lambda w: f"/admin/members/{w.alice}/contacts", ALL),
    (
        "admin.recording_audio",
        "GET",
        lambda w: f"/admin/recordings/{w.recording_id}/audio",
        FOLLOW_UP,
    ),
    ("admin.reports", "GET", lambda w: "/admin/reports", FOLLOW_UP),
    ("admin.reports_export", "GET", lambda w: "/admin/reports.xlsx", FOLLOW_UP),
    ("admin.nonreporters", "GET", lambda w: "/admin/nonreporters", STAFF),
    ("admin.nonreporters_flag", "POST", lambda w: "/admin/nonreporters/flag", STAFF),
    ("admin.roster", "GET", lambda w: "/admin/nonreporters/roster", STAFF),
    ("admin.roster_attendance", "POST", lambda w: "/admin/nonreporters/roster/attendance", STAFF),
    ("admin.roster_export", "GET", lambda w: "/admin/nonreporters/roster.csv", STAFF),
    ("admin.inbox", "GET", lambda w: "/admin/inbox", STAFF),
    ("admin.inbox_handled", "POST", lambda w: "/admin/inbox/handled", STAFF),
    ("admin.inbox_link", "POST", lambda w: "/admin/inbox/link", TOWNSHIP),
    ("admin.inbox_link_search", "GET", lambda w: "/admin/inbox/link?q=李", TOWNSHIP),
    ("admin.help_list", "GET", lambda w: "/admin/help", FOLLOW_UP),
    ("admin.help_detail", "GET", lambda w: f"/admin/help/{w.help_id}", FOLLOW_UP),
    ("admin.help_assign", "POST", lambda w: f"/admin/help/{w.help_id}/assign", STAFF),
    ("admin.help_note", "POST", lambda w: f"/admin/help/{w.help_id}/note", FOLLOW_UP),
    ("admin.help_resolve", "POST", lambda w: f"/admin/help/{w.help_id}/resolve", FOLLOW_UP),
    ("admin.tasks", "GET", lambda w: "/admin/tasks", FOLLOW_UP),
    ("admin.task_done", "POST", lambda w: "/admin/tasks/999999/done", FOLLOW_UP),
    ("admin.broadcasts", "GET", lambda w: "/admin/broadcasts", STAFF),
    ("admin.surveys", "GET", lambda w: "/admin/surveys", STAFF),
    ("admin.survey_new", "GET", lambda w: "/admin/surveys/new?start=ready", STAFF),
    ("admin.survey_create", "POST", lambda w: "/admin/surveys", STAFF),
    # No such survey: the roles let in get a 404, the others a 403.
    ("admin.survey_detail", "GET", lambda w: "/admin/surveys/999999", STAFF),
    ("admin.survey_export", "GET", lambda w: "/admin/surveys/999999/answers.csv", STAFF),
    ("admin.broadcast_new", "GET", lambda w: "/admin/broadcasts/new", STAFF),
    ("admin.broadcast_estimate", "GET", lambda w: "/admin/broadcasts/estimate", STAFF),
    ("admin.broadcast_create", "POST", lambda w: "/admin/broadcasts", STAFF),
    ("admin.broadcast_detail", "GET", lambda w: f"/admin/broadcasts/{w.broadcast_id}", STAFF),
    (
        "admin.broadcast_progress_json",
        "GET",
        lambda w: f"/admin/broadcasts/{w.broadcast_id}/progress",
        STAFF,
    ),
    ("admin.lessons", "GET", lambda w: "/admin/lessons", STAFF),
    ("admin.lesson_upload", "POST", lambda w: "/admin/lessons", STAFF),
    ("admin.lesson_audio", "GET", lambda w: f"/admin/lessons/{w.lesson_id}/audio", STAFF),
    (
        "admin.lesson_voice_upload",
        "POST",
        lambda w: f"/admin/lessons/{w.lesson_id}/voice-file",
        STAFF,
    ),
    ("admin.campaign_create", "POST", lambda w: "/admin/lessons/campaigns", STAFF),
    ("admin.review", "GET", lambda w: "/admin/review", STAFF),
    ("admin.review_export", "GET", lambda w: "/admin/review.xlsx", STAFF),
    ("admin.review_rate", "POST", lambda w: "/admin/review/rate", STAFF),
    ("admin.review_basis_export", "GET", lambda w: "/admin/review/basis.csv", STAFF),
    ("admin.review_exemplar", "POST", lambda w: "/admin/review/exemplar", STAFF),
    ("admin.review_branches", "GET", lambda w: "/admin/review/branches", STAFF),
    ("admin.activities", "GET", lambda w: "/admin/activities", DECIDERS),
    # No such deed: the roles let in get a 404, the others a 403.
    ("admin.deed_decide", "POST", lambda w: "/admin/deeds/999999/decide", DECIDERS),
    ("admin.deed_audio", "GET", lambda w: "/admin/deeds/999999/audio", DECIDERS),
    ("admin.tip_create", "POST", lambda w: "/admin/tips", STAFF),
    ("admin.register", "GET", lambda w: "/admin/register", STAFF),
    ("admin.register_check", "POST", lambda w: "/admin/register", STAFF),
    ("admin.register_apply", "POST", lambda w: "/admin/register/apply", STAFF),
    ("admin.settings", "GET", lambda w: "/admin/settings", STAFF),
    ("admin.settings_save", "POST", lambda w: "/admin/settings", TOWNSHIP),
    ("admin.help_deadlines", "GET", lambda w: "/admin/settings/help-deadlines", STAFF),
    ("admin.help_deadlines_save", "POST", lambda w: "/admin/settings/help-deadlines", TOWNSHIP),
    ("admin.approval_settings", "GET", lambda w: "/admin/settings/approval", STAFF),
    ("admin.approval_settings_save", "POST", lambda w: "/admin/settings/approval", TOWNSHIP),
    ("admin.approvals", "GET", lambda w: "/admin/approvals", TOWNSHIP),
    ("admin.inspection", "GET", lambda w: "/admin/inspection", TOWNSHIP),
    ("admin.inspection_export", "GET", lambda w: "/admin/inspection.csv", TOWNSHIP),
    (
        "admin.broadcast_approve",
        "POST",
        lambda w: f"/admin/broadcasts/{w.broadcast_id}/approve",
        TOWNSHIP,
    ),
    (
        "admin.broadcast_return",
        "POST",
        lambda w: f"/admin/broadcasts/{w.broadcast_id}/return",
        TOWNSHIP,
    ),
    ("admin.branch_settings", "GET", lambda w: f"/admin/settings/branches/{w.east}", STAFF),
    (
        "admin.branch_settings_save",
        "POST",
        lambda w: f"/admin/settings/branches/{w.east}",
        STAFF,
    ),
    ("admin.audit", "GET", lambda w: "/admin/audit", TOWNSHIP),
    ("admin.member_reveal", "POST", lambda w: f"/admin/members/{w.alice}/reveal", CALLERS),
    ("admin.member_data", "GET", lambda w: f"/admin/members/{w.alice}/data.json", STAFF),
    # Alice is still on the register: the roles let in are answered 400, not erased.
    ("admin.member_erase", "POST", lambda w: f"/admin/members/{w.alice}/erase", STAFF),
    ("admin.privacy_settings", "GET", lambda w: "/admin/privacy", TOWNSHIP),
    ("admin.privacy_settings", "POST", lambda w: "/admin/privacy", TOWNSHIP),
    ("admin.access_review_page", "GET", lambda w: "/admin/privacy/users", TOWNSHIP),
    (
        "admin.access_review_user",
        "GET",
        lambda w: f"/admin/privacy/users/{w.users['branch']}",
        TOWNSHIP,
    ),
    # The township's own login: the page answers 400 (nobody disables themselves).
    (
        "admin.access_disable",
        "POST",
        lambda w: f"/admin/privacy/users/{w.users['township']}/disable",
        TOWNSHIP,
    ),
    ("admin.phone", "GET", lambda w: "/admin/phone", STAFF),
    ("admin.phone_text", "POST", lambda w: "/admin/phone/text", STAFF),
    ("admin.phone_call", "POST", lambda w: "/admin/phone/call", STAFF),
    ("admin.phone_clear", "POST", lambda w: "/admin/phone/clear", STAFF),
    ("admin.login", "POST", lambda w: "/admin/login", PUBLIC),
    ("admin.change_password", "GET", lambda w: "/admin/password", ALL),
    ("admin.change_password", "POST", lambda w: "/admin/password", ALL),
    ("admin.language", "POST", lambda w: "/admin/language", PUBLIC),
    ("admin.static", "GET", lambda w: "/admin/static/admin.css", PUBLIC),
    ("admin.logout", "POST", lambda w: "/admin/logout", PUBLIC),  # last: it ends the session
]


def _client(client: FlaskClient, role: str) -> AdminClient:
    if role == "anonymous":
        anonymous = AdminClient(client)
        anonymous.get("/admin/login")  # a stranger's session still carries a CSRF token
        return anonymous
    return login_as(client, role)


def _outcome(response: Any) -> str:
    """'page' (let in), 'login' (sent to log in), 'forbidden', or 'csrf' (token refused)."""
    if response.mimetype == "text/html" and b'id="csrf-error"' in response.get_data():
        return "csrf"
    if response.status_code == 403:
        return "forbidden"
    location = response.headers.get("Location", "")
    if response.status_code == 302 and "/admin/login" in location:
        return "login"
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    return "page"


def test_every_admin_route_is_in_the_table(app: Flask) -> None:
    """A new admin route cannot be added without saying who may open it."""
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.")
        for method in rule.methods or ()
        if method in ("GET", "POST")
    }
    assert routes == {(endpoint, method) for endpoint, method, _, _ in ROUTES}


@pytest.mark.parametrize("role", ["township", "branch", "liaison", "host", "anonymous"])
def test_role_gets_exactly_its_pages(client: FlaskClient, world: World, role: str) -> None:
    """Allowed roles get the page; other roles 403; a stranger is sent to the login page."""
    admin = _client(client, role)
    wrong = []
    for endpoint, method, url, allowed in ROUTES:
        path = url(world)
        response = admin.get(path) if method == "GET" else admin.post(path, {})
        got = _outcome(response)
        expected = "page" if role in allowed else "login" if role == "anonymous" else "forbidden"
        if endpoint == "admin.logout":
            expected = "login"  # logging out always ends on the login page
        if got != expected:
            wrong.append((endpoint, method, path, response.status_code, got, expected))
    assert wrong == []


@pytest.mark.parametrize("role", ["branch", "liaison", "host"])
def test_member_outside_the_scope_is_not_found(
    client: FlaskClient, world: World, role: str
) -> None:
    """A member of another branch or township is a 404, never shown."""
    admin = login_as(client, role)
    assert admin.get(f"/admin/members/{world.dave}").status_code == 404
    assert admin.get(f"/admin/members/{world.carol}").status_code == 404
    listing = admin.get("/admin/members").get_data(as_text=True)
    assert "赵德明" not in listing
    assert "张桂兰" not in listing


def test_scopes_of_each_role(client: FlaskClient, world: World) -> None:
    """Township sees its tree, a liaison only the assigned, a host only the attached."""
    seen = {}
    for role in ("township", "branch", "liaison", "host"):
        admin = login_as(client, role)
        text = admin.get("/admin/members").get_data(as_text=True)
        seen[role] = {name for name in ("王秀英", "李建国", "张桂兰", "赵德明") if name in text}
        admin.post("/admin/logout")
    assert seen == {
        "township": {"王秀英", "李建国", "张桂兰"},
        "branch": {"王秀英", "李建国"},
        "liaison": {"王秀英"},
        "host": {"王秀英"},
    }


def test_phone_simulator_is_absent_without_the_sandbox(app_config: dict[str, Any]) -> None:
    """With a real provider the simulator does not exist, even for the township."""
    from gateway import create_app
    from infra.db import get_session
    from tests.admin_ui.world import build_world

    app_config.update(
        PROVIDER="twilio",
        TWILIO_AUTH_TOKEN="0123456789abcdef" * 2,
        SECRET_KEY="kq3Vd8Zr1xW0pLm5Tn7Yb2Hs9Jc4Fg6E",
        PUBLIC_BASE_URL="https://gw.example.org",
    )
    app = create_app(app_config)
    try:
        with app.app_context():
            build_world(get_session())
        admin = login_as(app.test_client(), "township")
        assert admin.get("/admin/phone").status_code == 404
        assert (
            admin.post("/admin/phone/text", {"phone": "+8613800000001", "body": "HB 1"}).status_code
            == 404
        )
        assert "/admin/phone" not in admin.get("/admin/").get_data(as_text=True)
    finally:
        app.extensions["db_engine"].dispose()
