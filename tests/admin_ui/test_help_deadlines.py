"""Help-request deadlines in the admin: the setting, the task lists, the township's dashboard
and the request's history."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import AuditLog, HelpCategory, HelpRequest, Organization, utcnow
from models.help_deadlines import DEADLINES_KEY, sweep_deadlines
from tests.admin_ui.world import World, db, login_as


def _form(first: object = 2, resolution: object = 30) -> dict[str, object]:
    return {
        **{f"first_contact-{c.value}": first for c in HelpCategory},
        **{f"resolution-{c.value}": resolution for c in HelpCategory},
    }


def _make_late(app: Flask, world: World, days: int) -> None:
    """Move the world's wages request `days` into the past and sweep the deadlines now."""
    with db(app) as session:
        request = session.get(HelpRequest, world.help_id)
        township = session.get(Organization, world.township)
        assert request is not None and township is not None
        request.created_at = utcnow() - timedelta(days=days)
        sweep_deadlines(session, township, utcnow())
        session.commit()


def test_the_township_sets_deadlines_and_bad_ones_are_refused(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Below a day, above a year, not a number: 400 with the reason, nothing stored; a good
    form is stored and audited."""
    admin = login_as(client, "township")
    assert admin.get("/admin/settings/help-deadlines").status_code == 200
    for first, resolution, reason in [
        (0, 30, "不能少于1天"),
        (2, 400, "不能超过一年"),
        ("x", 30, "整数天"),
        (10, 5, "不能晚于办结期限"),
    ]:
        response = admin.post("/admin/settings/help-deadlines", _form(first, resolution))
        assert response.status_code == 400
        assert reason in response.get_data(as_text=True)
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None
        assert DEADLINES_KEY not in (township.settings or {})
    saved = admin.post("/admin/settings/help-deadlines", _form(3, 20))
    assert saved.status_code == 302
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None
        assert township.settings[DEADLINES_KEY]["wages"] == {"first_contact": 3, "resolution": 20}
        assert session.scalar(
            select(AuditLog.id).where(
                AuditLog.action == "settings", AuditLog.target == f"org:{world.township}"
            )
        )


def test_a_branch_user_reads_the_deadlines_but_cannot_change_them(
    client: FlaskClient, world: World
) -> None:
    """The branch sees the page; its post is forbidden."""
    admin = login_as(client, "branch")
    assert admin.get("/admin/settings/help-deadlines").status_code == 200
    assert admin.post("/admin/settings/help-deadlines", _form()).status_code == 403


def test_a_request_past_first_contact_is_on_the_liaisons_and_branchs_task_lists(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Three days without a note: listed for the liaison and the branch, not the other branch;
    a note takes it off both lists."""
    _make_late(app, world, 3)
    for username in ("liaison", "branch"):
        page = login_as(client, username).get("/admin/tasks").get_data(as_text=True)
        assert f'id="late-help-{world.help_id}"' in page
    west = login_as(client, "west").get("/admin/tasks").get_data(as_text=True)
    assert f'id="late-help-{world.help_id}"' not in west
    detail = login_as(client, "branch")
    listed = detail.get("/admin/help?late=contact").get_data(as_text=True)
    assert f"QZ{world.help_id}" in listed
    detail.post(f"/admin/help/{world.help_id}/note", {"text": "已电话联系"})
    page = detail.get("/admin/tasks").get_data(as_text=True)
    assert f'id="late-help-{world.help_id}"' not in page


def test_a_request_past_resolution_is_on_the_township_dashboard_with_its_branch(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Sixteen days unresolved (wages: 15): the township's dashboard lists it with the branch
    name, and its history says what happened."""
    _make_late(app, world, 16)
    page = login_as(client, "township").get("/admin/").get_data(as_text=True)
    row = page[page.index(f'id="escalated-{world.help_id}"') :]
    assert "东村党支部" in row[: row.index("</tr>")]
    branch_page = login_as(client, "branch").get("/admin/").get_data(as_text=True)
    assert 'id="escalated-help"' not in branch_page
    other = login_as(client, "other").get("/admin/").get_data(as_text=True)
    assert f'id="escalated-{world.help_id}"' not in other
    detail = login_as(client, "township").get(f"/admin/help/{world.help_id}")
    text = detail.get_data(as_text=True)
    assert "已超过办结期限" in text and "已超过首次联系期限" in text
