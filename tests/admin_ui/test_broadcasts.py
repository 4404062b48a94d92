"""The broadcast composer and pages: targets, when a notice goes out, urgency, true counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from models import (
    Broadcast,
    Direction,
    Member,
    Message,
    MessageStatus,
    Organization,
    utcnow,
)
from models.audit import AuditLog
from models.broadcast import finish_resolving, hold_rows, next_part, write_outbox_part
from models.caps import HoldReason
from models.lesson import add_campaign_members, create_campaign
from tests.admin_ui.world import World, db, login_as

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _latest(app: Flask) -> Broadcast | None:
    with db(app) as session:
        return session.scalar(select(Broadcast).order_by(Broadcast.id.desc()))


def test_the_composer_targets_host_organisations_and_industries(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Host and industry are offered, estimated and stored as the CLI's --host/--industry."""
    with db(app) as session:
        for member_id, industry in ((world.alice, "物流"), (world.bob, "制造业")):
            member = session.get(Member, member_id)
            assert member is not None
            member.industry = industry
        carol = session.get(Member, world.carol)
        assert carol is not None
        carol.industry = "制造业"
        session.commit()
    admin = login_as(client, "township")
    page = admin.get("/admin/broadcasts/new").get_data(as_text=True)
    assert f'<option value="{world.host}">广州白云区流动党支部 (广州)</option>' in page
    assert '<option value="制造业">制造业</option>' in page
    hosted = admin.get(f"/admin/broadcasts/estimate?hosts={world.host}").get_json()
    assert hosted["recipients"] == 1
    industry = admin.get("/admin/broadcasts/estimate?industries=制造业").get_json()
    assert industry["recipients"] == 2
    both = admin.get(f"/admin/broadcasts/estimate?industries=制造业&hosts={world.host}")
    assert both.get_json()["recipients"] == 0  # filters narrow across keys
    assert admin.post("/admin/broadcasts", {"text": "白云区的同志请注意", "hosts": [world.host]})
    broadcast = _latest(app)
    assert broadcast is not None
    assert (broadcast.target["hosts"], broadcast.recipients) == ([world.host], 1)
    response = admin.post("/admin/broadcasts", {"text": "制造业的同志", "industries": ["制造业"]})
    assert response.status_code == 302
    broadcast = _latest(app)
    assert broadcast is not None
    assert (broadcast.target["industries"], broadcast.recipients) == (["制造业"], 2)
    unknown = admin.post("/admin/broadcasts", {"text": "通知", "hosts": ["99999"]})
    assert unknown.status_code == 400


def _window_in_three_hours(app: Flask, world: World) -> str:
    """A one-hour township window three hours from now (quiet otherwise); its start, local."""
    start = (utcnow().astimezone(SHANGHAI) + timedelta(hours=3)).replace(
        minute=0, second=0, microsecond=0
    )
    window = [start.strftime("%H:%M"), (start + timedelta(hours=1)).strftime("%H:%M")]
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None
        township.settings = {"contact_window": window, "quiet_hours": window[::-1]}
        session.commit()
    return f"{start:%Y-%m-%d %H:%M}"


def test_the_composer_says_when_the_notice_goes_out(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Outside the window: the composer, the estimate, the message after sending and the
    notice's page all say it goes out at the window's start."""
    start = _window_in_three_hours(app, world)
    expected = f"将于{start}起按各成员联系时段发送,最晚{start}。"
    admin = login_as(client, "township")
    assert expected in admin.get("/admin/broadcasts/new").get_data(as_text=True)
    assert admin.get("/admin/broadcasts/estimate").get_json()["when"] == expected
    response = admin.post("/admin/broadcasts", {"text": "周六开会"}, follow_redirects=True)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count(expected) == 2  # the message and the page


def test_only_a_township_user_may_send_urgent(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A branch is not offered urgent and a forged post is refused; a township's is audited."""
    branch = login_as(client, "branch")
    assert 'name="urgent"' not in branch.get("/admin/broadcasts/new").get_data(as_text=True)
    forged = branch.post("/admin/broadcasts", {"text": "紧急通知", "urgent": "y"})
    assert forged.status_code == 400
    assert "只有乡镇党委可以发送紧急通知" in forged.get_data(as_text=True)
    with db(app) as session:
        assert session.scalars(select(Broadcast.text)).all() == ["五月十日开会"]
    branch.post("/admin/logout")
    township = login_as(client, "township")
    page = township.get("/admin/broadcasts/new").get_data(as_text=True)
    assert 'name="urgent"' in page
    when = township.get("/admin/broadcasts/estimate?urgent=y").get_json()["when"]
    assert when == "紧急通知:立即发给所有成员,不受联系时段限制。"
    response = township.post("/admin/broadcasts", {"text": "暴雨预警", "urgent": "y"})
    assert response.status_code == 302
    broadcast = _latest(app)
    assert broadcast is not None and broadcast.urgent
    with db(app) as session:
        entry = session.scalar(
            select(AuditLog).where(AuditLog.target == f"broadcast:{broadcast.id}")
        )
        assert entry is not None and entry.user_id == world.users["township"]
        assert entry.detail == {"recipients": 3, "urgent": True}


def test_progress_counts_members_once_not_their_replies(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The page's tiles and the JSON the progress bar polls count 3 members, not 9 rows."""
    admin = login_as(client, "township")
    assert admin.post("/admin/broadcasts", {"text": "周六开会", "urgent": "y"}).status_code == 302
    broadcast = _latest(app)
    assert broadcast is not None
    with db(app) as session:
        stored = session.get(Broadcast, broadcast.id)
        assert stored is not None
        part = next_part(session, stored, None)
        assert part is not None
        write_outbox_part(session, stored, part, utcnow())
        for row in session.scalars(select(Message).where(Message.broadcast_id == stored.id)):
            row.status, row.attempts = MessageStatus.DELIVERED, 2
            for body in ("收到", "好的"):
                session.add(
                    Message(
                        direction=Direction.IN,
                        member_id=row.member_id,
                        phone=row.phone,
                        body=body,
                        status=MessageStatus.RECEIVED,
                        broadcast_id=stored.id,
                    )
                )
        session.flush()
        finish_resolving(session, stored)
        session.commit()
    progress = admin.get(f"/admin/broadcasts/{broadcast.id}/progress").get_json()
    assert (progress["recipients"], progress["delivered"], progress["percent"]) == (3, 3, 100)
    page = admin.get(f"/admin/broadcasts/{broadcast.id}").get_data(as_text=True)
    assert '<b data-key="recipients">3</b>' in page
    listing = admin.get("/admin/broadcasts").get_data(as_text=True)
    assert '<td class="num">3</td>' in listing


def test_a_waiting_recipient_says_why_it_waits(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A row held by its number's daily cap says so, with when it goes, in Chinese."""
    admin = login_as(client, "township")
    assert admin.post("/admin/broadcasts", {"text": "周六开会", "urgent": "y"}).status_code == 302
    broadcast = _latest(app)
    assert broadcast is not None
    with db(app) as session:
        stored = session.get(Broadcast, broadcast.id)
        assert stored is not None
        part = next_part(session, stored, None)
        assert part is not None
        write_outbox_part(session, stored, part, utcnow())
        rows = session.scalars(select(Message).where(Message.broadcast_id == stored.id)).all()
        hold_rows(
            session, {rows[0].id: (datetime(2027, 3, 10, 11, 0, tzinfo=UTC), HoldReason.DAILY_CAP)}
        )
        session.commit()
    page = admin.get(f"/admin/broadcasts/{broadcast.id}").get_data(as_text=True)
    assert page.count("该号码今日条数已满,次日发送") == 1
    assert "2027-03-10 19:00" in page


def test_the_lessons_page_counts_a_campaigns_members_once(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A campaign to the township's 3 members says 3 members, not 6."""
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None
        campaign = create_campaign(
            session,
            lesson_id=world.lesson_id,
            org=township,
            author_id=None,
            target={},
            now=utcnow(),
        )
        add_campaign_members(session, campaign, utcnow())
        session.commit()
    page = login_as(client, "township").get("/admin/lessons").get_data(as_text=True)
    assert "党员 3 ·" in page


def test_a_broadcast_made_on_the_command_line_is_in_the_audit_log(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, world: World
) -> None:
    """No user made it: the township's audit log shows it as the command line's."""
    result = runner.invoke(
        args=["broadcast", "create", "--org", "青山镇", "--text", "周六开会", "--json"]
    )
    assert result.exit_code == 0, result.output
    broadcast_id = json.loads(result.output.strip().splitlines()[-1])["id"]
    page = login_as(client, "township").get("/admin/audit?action=send").get_data(as_text=True)
    assert "命令行" in page and f"通知 {broadcast_id}" in page
    other = login_as(client, "other").get("/admin/audit?action=send").get_data(as_text=True)
    assert "命令行" not in other  # another township's log does not show it
