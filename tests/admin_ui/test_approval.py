"""Notices approved up the chain: thresholds, the pending notice, the approver's view and
decision, audited, and nobody approving their own notice."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.job import Job
from sqlalchemy import select

from models import AuditLog, Broadcast, BroadcastStatus, Message, Organization, Role
from models.approval import APPROVAL_KEY
from tests.admin_ui.world import World, db, login_as
from tests.factories import make_user
from workers.broadcasts import resolve_job_id


def _thresholds(app: Flask, world: World, **rule: object) -> None:
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None
        township.settings = {**(township.settings or {}), APPROVAL_KEY: rule}
        session.commit()


def _latest(app: Flask) -> Broadcast:
    with db(app) as session:
        found = session.scalar(select(Broadcast).order_by(Broadcast.id.desc()))
        assert found is not None
        return found


def _audited(app: Flask, action: str, broadcast_id: int) -> list[int | None]:
    with db(app) as session:
        return list(
            session.scalars(
                select(AuditLog.user_id).where(
                    AuditLog.action == action, AuditLog.target == f"broadcast:{broadcast_id}"
                )
            )
        )


def test_bad_thresholds_are_refused_and_good_ones_stored(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Not a number, negative, three decimals: 400 with why; empty is no threshold."""
    township = login_as(client, "township")
    for members, cost, reason in [
        ("十个", "", "人数应为整数"),
        ("-1", "", "人数应在0到"),
        ("", "abc", "费用应为金额"),
        ("", "-5", "费用应在0到"),
        ("", "1.234", "最多两位小数"),
    ]:
        response = township.post("/admin/settings/approval", {"members": members, "cost": cost})
        assert response.status_code == 400
        assert reason in response.get_data(as_text=True)
    saved = township.post(
        "/admin/settings/approval", {"members": "100", "cost": "", "township_own": "y"}
    )
    assert saved.status_code == 302
    with db(app) as session:
        stored = session.get(Organization, world.township)
        assert stored is not None
        assert stored.settings[APPROVAL_KEY] == {"members": 100, "cost": None, "township_own": True}
    assert login_as(client, "branch").post("/admin/settings/approval", {}).status_code == 403


def test_a_branch_notice_over_the_threshold_waits_and_is_approved(
    app: Flask, client: FlaskClient, world: World, redis_client: Redis
) -> None:
    """Two members over a threshold of one: the composer says so, the notice waits with
    nothing sent; the township user sees text, recipients, segments and cost, approves, and
    only then do the texts go."""
    _thresholds(app, world, members=1, cost=None)
    branch = login_as(client, "branch")
    composer = branch.get("/admin/broadcasts/new").get_data(as_text=True)
    assert 'id="approval-rule"' in composer and "1人以上" in composer
    response = branch.post("/admin/broadcasts", {"text": "周六上午九点村委会开会"})
    assert response.status_code == 302
    notice = _latest(app)
    assert notice.status is BroadcastStatus.PENDING
    assert notice.approval_reasons == ["members"]
    assert not Job.exists(resolve_job_id(notice.id), connection=redis_client)
    with db(app) as session:
        assert session.scalars(select(Message).where(Message.broadcast_id == notice.id)).all() == []
    # The branch author cannot decide; the page says it waits.
    assert branch.post(f"/admin/broadcasts/{notice.id}/approve").status_code == 403
    mine = branch.get(f"/admin/broadcasts/{notice.id}").get_data(as_text=True)
    assert "待审批" in mine and 'id="approve-form"' not in mine
    township = login_as(client, "township")
    listed = township.get("/admin/approvals").get_data(as_text=True)
    assert f'id="pending-{notice.id}"' in listed
    page = township.get(f"/admin/broadcasts/{notice.id}").get_data(as_text=True)
    assert "周六上午九点村委会开会" in page
    assert 'id="approval-recipients">2<' in page
    assert 'id="approval-segments">1<' in page
    assert 'id="approval-cost">0.10 ' in page  # 2 members x 1 segment x 0.05 CNY
    assert "王秀英" in page and "李建国" in page and 'id="approve-form"' in page
    approved = township.post(f"/admin/broadcasts/{notice.id}/approve")
    assert approved.status_code == 302
    assert _latest(app).status is BroadcastStatus.SCHEDULED
    assert _audited(app, "approve", notice.id) == [world.users["township"]]
    assert Job.exists(resolve_job_id(notice.id), connection=redis_client)  # on its way
    again = township.post(f"/admin/broadcasts/{notice.id}/approve")
    assert again.status_code == 400 and "不在待审批状态" in again.get_data(as_text=True)


def test_a_notice_returned_with_a_reason_is_never_sent(
    app: Flask, client: FlaskClient, world: World, redis_client: Redis
) -> None:
    """No reason: refused. With one: returned, audited, the author reads why; nothing sent."""
    _thresholds(app, world, members=None, cost="0.01")
    branch = login_as(client, "branch")
    branch.post("/admin/broadcasts", {"text": "请大家转发这条消息"})
    notice = _latest(app)
    assert notice.approval_reasons == ["cost"]
    township = login_as(client, "township")
    empty = township.post(f"/admin/broadcasts/{notice.id}/return", {"reason": "  "})
    assert empty.status_code == 400 and "此项必填" in empty.get_data(as_text=True)
    assert _latest(app).status is BroadcastStatus.PENDING
    done = township.post(
        f"/admin/broadcasts/{notice.id}/return", {"reason": "内容不清楚,请写明事由"}
    )
    assert done.status_code == 302
    returned = _latest(app)
    assert (returned.status, returned.return_reason) == (
        BroadcastStatus.RETURNED,
        "内容不清楚,请写明事由",
    )
    assert _audited(app, "return", notice.id) == [world.users["township"]]
    audit_page = township.get("/admin/audit").get_data(as_text=True)
    assert "退回通知" in audit_page and "内容不清楚" in audit_page
    page = login_as(client, "branch").get(f"/admin/broadcasts/{notice.id}").get_data(as_text=True)
    assert "内容不清楚,请写明事由" in page and "已退回" in page
    assert not Job.exists(resolve_job_id(notice.id), connection=redis_client)


def test_a_township_notice_needs_a_second_township_user_never_its_author(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """With township_own on, the township's notice waits; its author is refused with a
    message, another township user approves it."""
    _thresholds(app, world, members=1, cost=None, township_own=True)
    with db(app) as session:
        township_org = session.get(Organization, world.township)
        assert township_org is not None
        make_user(session, township_org, Role.TOWNSHIP, "township2")
        session.commit()
    author = login_as(client, "township")
    author.post("/admin/broadcasts", {"text": "全镇党员请注意防汛"})
    notice = _latest(app)
    assert notice.status is BroadcastStatus.PENDING
    page = author.get(f"/admin/broadcasts/{notice.id}").get_data(as_text=True)
    assert "不能审批自己发起的通知" in page and 'id="approve-form"' not in page
    own = author.post(f"/admin/broadcasts/{notice.id}/approve")
    assert own.status_code == 400 and "不能审批自己发起的通知" in own.get_data(as_text=True)
    own_return = author.post(f"/admin/broadcasts/{notice.id}/return", {"reason": "撤回"})
    assert own_return.status_code == 400
    assert _latest(app).status is BroadcastStatus.PENDING
    second = login_as(client, "township2")
    assert second.post(f"/admin/broadcasts/{notice.id}/approve").status_code == 302
    assert _latest(app).status is BroadcastStatus.SCHEDULED


def test_below_the_thresholds_or_without_them_notices_go_at_once(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A threshold of 5 members: a notice to 2 is scheduled; the township's own notices wait
    only when the township says so."""
    _thresholds(app, world, members=5, cost=None)
    login_as(client, "branch").post("/admin/broadcasts", {"text": "本周六开会"})
    assert _latest(app).status is BroadcastStatus.SCHEDULED
    _thresholds(app, world, members=1, cost=None, township_own=False)
    login_as(client, "township").post("/admin/broadcasts", {"text": "全镇通知"})
    assert _latest(app).status is BroadcastStatus.SCHEDULED
