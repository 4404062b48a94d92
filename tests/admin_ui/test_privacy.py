"""Privacy through the app: masked numbers per role and the audited reveal, the export's
column picker, a member's own file, erasure, the access review, the retention settings and
`flask privacy retention`."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import Member, Organization, Recording, User
from models.audit import AuditAction, AuditLog
from models.base import utcnow
from models.privacy import mask_phone, retention_rules
from tests.admin_ui.world import AdminClient, World, db, login_as


def _alice_phone(app: Flask, world: World) -> str:
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None
        return alice.phone


def _entries(app: Flask, action: AuditAction) -> list[AuditLog]:
    with db(app) as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action)))


@pytest.mark.parametrize("username", ["township", "branch", "liaison", "host"])
def test_lists_and_the_file_show_masked_numbers_to_every_role(
    app: Flask, client: FlaskClient, world: World, username: str
) -> None:
    """The member list and the member's file show 138****0001, never the full number; only
    the roles that call members (branch, liaison) get the "show number" button."""
    phone = _alice_phone(app, world)
    user = login_as(client, username)
    listing = user.get("/admin/members").get_data(as_text=True)
    page = user.get(f"/admin/members/{world.alice}").get_data(as_text=True)
    for text in (listing, page):
        assert mask_phone(phone) in text
        assert phone not in text and phone[3:] not in text
    assert ('id="reveal"' in page) is (username in ("branch", "liaison"))


def test_a_caller_reveals_the_number_and_the_reveal_is_audited(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The branch secretary's "show number" shows the full number once, written to the audit
    log; the township and a host cannot reveal (403), nor anyone a member they do not see."""
    phone = _alice_phone(app, world)
    secretary = login_as(client, "branch")
    shown = secretary.post(f"/admin/members/{world.alice}/reveal")
    assert shown.status_code == 200
    assert phone in shown.get_data(as_text=True)
    [entry] = _entries(app, AuditAction.REVEAL)
    assert (entry.user_id, entry.target) == (world.users["branch"], f"member:{world.alice}")
    assert secretary.post(f"/admin/members/{world.dave}/reveal").status_code == 404
    for username in ("township", "host"):
        other = login_as(client, username)
        assert other.post(f"/admin/members/{world.alice}/reveal").status_code == 403
    assert len(_entries(app, AuditAction.REVEAL)) == 1


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_exports_carry_only_the_chosen_columns_and_are_audited_with_their_rows(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Ticking name and phone exports those two columns, in the export's order; the audit
    entry names the columns and counts the rows; an unknown column is a 400 with why."""
    secretary = login_as(client, "branch")
    page = secretary.get("/admin/reports").get_data(as_text=True)
    assert 'id="column-picker"' in page and 'name="col" value="phone"' in page
    response = secretary.get(f"/admin/reports.csv?period={world.period}&col=phone&col=name")
    assert response.status_code == 200
    rows = _csv(response.get_data(as_text=True))
    assert rows[0] == ["手机号", "姓名"]
    assert _alice_phone(app, world) in [row[0] for row in rows[1:]]
    [entry] = [e for e in _entries(app, AuditAction.EXPORT) if e.target.startswith("reports:")]
    assert entry.detail == {"branch": None, "rows": len(rows) - 1, "columns": ["phone", "name"]}
    bad = secretary.get(f"/admin/reports.csv?period={world.period}&col=password")
    assert bad.status_code == 400
    assert "password" in bad.get_data(as_text=True)


def test_a_member_file_download_has_everything_kept_and_is_audited(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The branch downloads Alice's file as JSON (card, reports, help requests, recordings'
    list...), audited; a liaison may not (403), a member of another township is a 404."""
    secretary = login_as(client, "branch")
    response = secretary.get(f"/admin/members/{world.alice}/data.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["card"]["name"] == "王秀英"
    assert data["help_requests"][0]["text"] == "工资拖欠三个月"
    assert data["recordings"][0]["kind"] == "thought_report"
    assert len(data["reports"]) == 2
    [entry] = _entries(app, AuditAction.EXPORT)
    assert entry.target == f"member:{world.alice}" and entry.detail is not None
    assert entry.detail["what"] == "member_data" and entry.detail["rows"]["reports"] == 2
    assert secretary.get(f"/admin/members/{world.dave}/data.json").status_code == 404
    liaison = login_as(client, "liaison")
    assert liaison.get(f"/admin/members/{world.alice}/data.json").status_code == 403


def test_erasing_a_member_who_left(app: Flask, client: FlaskClient, world: World) -> None:
    """A member still on the register cannot be erased; once marked as left, erasing needs
    the box ticked, then keeps only the tombstone, audited."""
    secretary = login_as(client, "branch")
    refused = secretary.post(f"/admin/members/{world.alice}/erase", {"confirm": "y"})
    assert refused.status_code == 400
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None and alice.name == "王秀英"
        alice.active = False
        session.commit()
    page = secretary.get(f"/admin/members/{world.alice}").get_data(as_text=True)
    assert 'id="erase"' in page
    assert secretary.post(f"/admin/members/{world.alice}/erase").status_code == 400
    done = secretary.post(f"/admin/members/{world.alice}/erase", {"confirm": "y"})
    assert done.status_code == 302
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None
        assert (alice.name, alice.phone, alice.branch_id) == (
            "已删除",
            f"erased:{world.alice}",
            world.east,
        )
        assert alice.erased_at is not None
    [entry] = _entries(app, AuditAction.ERASE)
    assert entry.target == f"member:{world.alice}" and entry.detail is not None
    assert entry.detail["recordings"] == 1
    again = secretary.post(f"/admin/members/{world.alice}/erase", {"confirm": "y"})
    assert again.status_code == 400


def test_the_access_review_shows_each_user_and_disables_one(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The township sees each of its users with role, last login, views and exports of the
    last 90 days, and what one of them viewed; disabling the liaison stops their login. A
    branch cannot open the review; another township's user is a 404."""
    secretary = login_as(client, "branch")
    secretary.get(f"/admin/members/{world.alice}")
    secretary.get(f"/admin/reports.csv?period={world.period}")
    township = login_as(client, "township")
    page = township.get("/admin/privacy/users")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    row = text.split(f'id="user-{world.users["branch"]}"', 1)[1].split("</tr>", 1)[0]
    cells = [c.split(">", 1)[1].split("<", 1)[0] for c in row.split('<td class="num"')[1:]]
    assert cells == ["1", "1"]  # the file viewed, the reports exported
    assert f'id="user-{world.users["other"]}"' not in text
    detail = township.get(f"/admin/privacy/users/{world.users['branch']}").get_data(as_text=True)
    assert f"{world.alice}" in detail
    assert township.get(f"/admin/privacy/users/{world.users['other']}").status_code == 404
    assert township.post(f"/admin/privacy/users/{world.users['other']}/disable").status_code == 404
    disabled = township.post(f"/admin/privacy/users/{world.users['liaison']}/disable")
    assert disabled.status_code == 302
    with db(app) as session:
        liaison = session.get(User, world.users["liaison"])
        assert liaison is not None and not liaison.active
        township_user = session.get(User, world.users["township"])
        assert township_user is not None and township_user.last_login_at is not None
    assert (
        township.post(f"/admin/privacy/users/{world.users['township']}/disable").status_code == 400
    )
    assert login_as(client, "branch").get("/admin/privacy/users").status_code == 403
    assert AdminClient(client).login("liaison").status_code != 302


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"recording_months": "abc"}, "整数"),
        ({"recording_months": "0"}, "之间"),
        ({"audit_months": "12"}, "更久"),
    ],
)
def test_bad_retention_settings_are_answered_and_not_stored(
    app: Flask, client: FlaskClient, world: World, values: dict[str, str], message: str
) -> None:
    """A wrong value is answered 400 with why, in Chinese, and nothing is stored."""
    township = login_as(client, "township")
    form = {
        "recording_months": "12",
        "inbound_months": "24",
        "audit_months": "60",
        "unused_user_days": "90",
    }
    form.update(values)
    response = township.post("/admin/privacy", form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with db(app) as session:
        org = session.get(Organization, world.township)
        assert org is not None and "privacy" not in (org.settings or {})


def test_retention_settings_are_saved(app: Flask, client: FlaskClient, world: World) -> None:
    """Good values are stored on the township and audited."""
    township = login_as(client, "township")
    form = {
        "recording_months": "6",
        "inbound_months": "12",
        "audit_months": "36",
        "unused_user_days": "30",
    }
    assert township.post("/admin/privacy", form).status_code == 302
    with db(app) as session:
        org = session.get(Organization, world.township)
        assert org is not None
        assert retention_rules(org) == {
            "recording_months": 6,
            "inbound_months": 12,
            "audit_months": 36,
            "unused_user_days": 30,
        }
    assert login_as(client, "branch").get("/admin/privacy").status_code == 403


def test_the_retention_command(app: Flask, world: World) -> None:
    """`--dry-run` counts and changes nothing; the real run removes; bad arguments are
    answered with a message."""
    runner = app.test_cli_runner()
    with db(app) as session:
        recording = session.get(Recording, world.recording_id)
        assert recording is not None
        recording.handled = True
        recording.created_at = utcnow() - timedelta(days=800)
        session.commit()
    args = ["privacy", "retention", "--org", "青山镇", "--json"]
    dry = runner.invoke(args=[*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["townships"]["青山镇"]["recordings"] == 1
    with db(app) as session:
        kept = session.get(Recording, world.recording_id)
        assert kept is not None and kept.url
    real = runner.invoke(args=args)
    assert real.exit_code == 0 and json.loads(real.output)["townships"]["青山镇"]["recordings"] == 1
    with db(app) as session:
        gone = session.get(Recording, world.recording_id)
        assert gone is not None and gone.url == ""
    for bad in (["--org", "无此镇"], ["--now", "yesterday"], ["--now", "2027-01-01T02:00"]):
        result = runner.invoke(args=["privacy", "retention", *bad])
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
