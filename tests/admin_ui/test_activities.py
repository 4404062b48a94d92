"""Deeds and tips in the admin: confirmed or declined from the inbox, the member's file, the
host's page and the activities page; staff's own tips; the tips board with its listens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from models import AuditLog, Deed, DeedStatus, Member, Message, User
from models.deed import TipTopic, record_deed
from models.report import Channel
from tests.admin_ui.world import World, db, login_as


def _deed(
    app: Flask, member_id: int, item: int = 4, text: str = "帮同乡找到工作", **extra: object
) -> int:
    with db(app) as session:
        member = session.get(Member, member_id)
        deed = record_deed(
            session, member=member, item=item, text=text, channel=Channel.SMS, **extra
        )
        session.commit()
        return deed.id


def _get(app: Flask, deed_id: int) -> Deed:
    with db(app) as session:
        deed = session.get(Deed, deed_id)
        assert deed is not None
        session.expunge(deed)
        return deed


def test_the_branch_confirms_a_deed_from_the_inbox(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The inbox's tab lists the waiting deed; confirming it records who, when, and audits it."""
    deed_id = _deed(app, world.bob)
    admin = login_as(client, "branch")
    page = admin.get("/admin/inbox?tab=deeds").get_data(as_text=True)
    assert f"GX{deed_id}" in page and "帮同乡找到工作" in page
    assert 'data-tab="deeds">1<' in page
    response = admin.post(
        f"/admin/deeds/{deed_id}/decide",
        {"decision": "confirm", "reason": "", "next": "/admin/inbox?tab=deeds"},
    )
    assert response.status_code == 302 and response.location.endswith("/admin/inbox?tab=deeds")
    deed = _get(app, deed_id)
    assert deed.status is DeedStatus.CONFIRMED
    assert deed.decided_by == world.users["branch"] and deed.decided_org_id == world.east
    assert deed.decided_at is not None
    with db(app) as session:
        audit = session.scalar(select(AuditLog).where(AuditLog.target == f"deed:{deed_id}"))
        assert audit is not None and audit.action == "handle"
    assert f'id="deed-{deed_id}"' not in admin.get("/admin/inbox?tab=deeds").get_data(as_text=True)


def test_declining_needs_a_reason_which_is_kept(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A decline without a reason is refused with a message; with one, the reason is shown."""
    deed_id = _deed(app, world.bob)
    admin = login_as(client, "branch")
    refused = admin.post(
        f"/admin/deeds/{deed_id}/decide",
        {"decision": "decline", "reason": "  "},
        follow_redirects=True,
    )
    assert "不予确认请写明理由" in refused.get_data(as_text=True)
    assert _get(app, deed_id).status is DeedStatus.PENDING
    admin.post(f"/admin/deeds/{deed_id}/decide", {"decision": "decline", "reason": "查无此事"})
    deed = _get(app, deed_id)
    assert deed.status is DeedStatus.DECLINED and deed.decline_reason == "查无此事"
    page = admin.get(f"/admin/members/{world.bob}").get_data(as_text=True)
    assert "查无此事" in page and f"GX{deed_id}" in page


@pytest.mark.parametrize(
    "form",
    [
        {"decision": "maybe"},
        {"decision": "confirm", "topic": "weather"},
        {"decision": "decline", "reason": "太" * 201},
        {},
    ],
)
def test_a_bad_decision_form_changes_nothing(
    app: Flask, client: FlaskClient, world: World, form: dict[str, str]
) -> None:
    """An unknown decision or topic, or a reason too long: a message, never a 500."""
    deed_id = _deed(app, world.bob, item=1, text="香菇种植")
    admin = login_as(client, "branch")
    response = admin.post(f"/admin/deeds/{deed_id}/decide", form, follow_redirects=True)
    assert response.status_code == 200
    assert 'class="flash error"' in response.get_data(as_text=True)
    assert _get(app, deed_id).status is DeedStatus.PENDING


def test_a_decided_deed_is_not_decided_again(app: Flask, client: FlaskClient, world: World) -> None:
    """A second decision (another tab, a replayed form) is refused; the first one stands."""
    deed_id = _deed(app, world.bob)
    admin = login_as(client, "branch")
    admin.post(f"/admin/deeds/{deed_id}/decide", {"decision": "confirm"})
    again = admin.post(
        f"/admin/deeds/{deed_id}/decide",
        {"decision": "decline", "reason": "x"},
        follow_redirects=True,
    )
    assert "已处理" in again.get_data(as_text=True)
    assert _get(app, deed_id).status is DeedStatus.CONFIRMED


def test_approving_a_tip_sets_its_topic_and_tells_the_member(
    app: Flask, client: FlaskClient, world: World, redis_client: Redis
) -> None:
    """The approved tip moves to its topic, and the member is texted its reference."""
    deed_id = _deed(app, world.bob, item=1, text="东莞长安电子厂招普工")
    admin = login_as(client, "branch")
    admin.post(f"/admin/deeds/{deed_id}/decide", {"decision": "confirm", "topic": "jobs"})
    deed = _get(app, deed_id)
    assert deed.status is DeedStatus.CONFIRMED and deed.topic is TipTopic.JOBS
    with db(app) as session:
        told = session.scalar(select(Message).where(Message.template_key == "tip_approved"))
        assert told is not None and told.member_id == world.bob
        assert f"GX{deed_id}" in told.body
        # Handed to the sender once the decision committed.
        assert redis_client.exists(f"rq:job:send-message-{told.id}")
    board = admin.get("/admin/activities?tab=tips&topic=jobs").get_data(as_text=True)
    assert "东莞长安电子厂招普工" in board
    other_topic = admin.get("/admin/activities?tab=tips&topic=farming").get_data(as_text=True)
    assert "东莞长安电子厂招普工" not in other_topic


def test_the_host_confirms_the_members_it_hosts_and_no_one_else(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Alice lives under the host: her deed waits on its page and its confirmation counts;
    Bob's deed is not the host's to see."""
    alice_deed = _deed(app, world.alice, item=5, text="给村小学捐书")
    bob_deed = _deed(app, world.bob)
    host = login_as(client, "host")
    page = host.get("/admin/").get_data(as_text=True)
    assert f"GX{alice_deed}" in page and f"GX{bob_deed}" not in page
    host.post(f"/admin/deeds/{alice_deed}/decide", {"decision": "confirm"})
    deed = _get(app, alice_deed)
    assert deed.status is DeedStatus.CONFIRMED and deed.decided_org_id == world.host
    assert host.post(f"/admin/deeds/{bob_deed}/decide", {"decision": "confirm"}).status_code == 404
    assert _get(app, bob_deed).status is DeedStatus.PENDING


def test_other_branches_and_liaisons_cannot_decide(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """West's secretary cannot see an east member's deed; a liaison does not confirm."""
    deed_id = _deed(app, world.bob)
    west = login_as(client, "west")
    assert west.post(f"/admin/deeds/{deed_id}/decide", {"decision": "confirm"}).status_code == 404
    liaison = login_as(client, "liaison")
    assert (
        liaison.post(f"/admin/deeds/{deed_id}/decide", {"decision": "confirm"}).status_code == 403
    )
    assert _get(app, deed_id).status is DeedStatus.PENDING


def test_a_member_cannot_confirm_their_own_deed(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The branch user who is also Bob is refused on Bob's deed."""
    deed_id = _deed(app, world.bob)
    with db(app) as session:
        user = session.get(User, world.users["branch"])
        assert user is not None
        user.member_id = world.bob
        session.commit()
    admin = login_as(client, "branch")
    response = admin.post(
        f"/admin/deeds/{deed_id}/decide", {"decision": "confirm"}, follow_redirects=True
    )
    assert "不能确认自己的记录" in response.get_data(as_text=True)
    assert _get(app, deed_id).status is DeedStatus.PENDING


def test_a_tip_typed_by_staff_waits_for_someone_else(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The branch types a tip: it waits; the author cannot approve it, the township can."""
    admin = login_as(client, "branch")
    admin.post(
        "/admin/tips", {"text": "县里新出香菇种植补贴", "topic": "farming", "branch_id": world.east}
    )
    with db(app) as session:
        deed = session.scalar(select(Deed).where(Deed.author_id == world.users["branch"]))
        assert deed is not None and deed.member_id is None and deed.topic is TipTopic.FARMING
        deed_id = deed.id
    refused = admin.post(
        f"/admin/deeds/{deed_id}/decide", {"decision": "confirm"}, follow_redirects=True
    )
    assert "不能审核自己录入的信息" in refused.get_data(as_text=True)
    township = login_as(client, "township")
    township.post(f"/admin/deeds/{deed_id}/decide", {"decision": "confirm"})
    assert _get(app, deed_id).status is DeedStatus.CONFIRMED


@pytest.mark.parametrize(
    "form",
    [
        {"text": "", "topic": "farming"},
        {"text": "好", "topic": "weather"},
        {"text": "好", "topic": "farming", "branch_id": "abc"},
        {"text": "好", "topic": "farming", "branch_id": "-1"},
    ],
)
def test_a_bad_tip_form_keeps_nothing(
    app: Flask, client: FlaskClient, world: World, form: dict[str, object]
) -> None:
    """No text, an unknown topic, a branch not the user's: a message, nothing kept."""
    admin = login_as(client, "branch")
    data = {"branch_id": world.east, **form}
    response = admin.post("/admin/tips", data, follow_redirects=True)
    assert response.status_code == 200 and 'class="flash error"' in response.get_data(as_text=True)
    with db(app) as session:
        assert session.scalar(select(Deed)) is None


def test_a_tip_for_a_branch_not_the_users_is_refused(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The east secretary cannot put a tip on the west branch's board."""
    admin = login_as(client, "branch")
    response = admin.post(
        "/admin/tips",
        {"text": "好", "topic": "farming", "branch_id": world.west},
        follow_redirects=True,
    )
    assert 'class="flash error"' in response.get_data(as_text=True)
    with db(app) as session:
        assert session.scalar(select(Deed)) is None


def test_a_too_short_recording_is_never_offered(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A spoken tip of one second is on the file but waits nowhere and cannot be decided."""
    from models import Recording
    from models.call import RecordingKind

    with db(app) as session:
        recording = Recording(
            member_id=world.bob, phone="+1", kind=RecordingKind.DEED, url="r.wav", duration=1
        )
        session.add(recording)
        session.flush()
        member = session.get(Member, world.bob)
        deed = record_deed(
            session,
            member=member,
            item=1,
            text="",
            channel=Channel.IVR,
            recording_id=recording.id,
            recording_seconds=1,
            at=datetime.now(UTC),
        )
        session.commit()
        deed_id = deed.id
    assert _get(app, deed_id).status is DeedStatus.UNOFFERED
    admin = login_as(client, "branch")
    assert f'id="deed-{deed_id}"' not in admin.get("/admin/inbox?tab=deeds").get_data(as_text=True)
    assert f"GX{deed_id}" in admin.get(f"/admin/members/{world.bob}").get_data(as_text=True)
    admin.post(f"/admin/deeds/{deed_id}/decide", {"decision": "confirm"})
    assert _get(app, deed_id).status is DeedStatus.UNOFFERED


def test_the_activities_page_for_every_decider(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Township, branch and host open the activities page and its tips board."""
    _deed(app, world.alice)
    for user in ("township", "branch", "host"):
        admin = login_as(client, user)
        for path in ("/admin/activities", "/admin/activities?tab=tips", "/admin/activities?tab=x"):
            assert admin.get(path).status_code == 200, (user, path)
