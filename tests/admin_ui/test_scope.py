"""What stays inside a user's scope: the phone simulator, unknown numbers, host organisations."""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from infra.db import get_session
from models import (
    Call,
    CallDirection,
    CallStatus,
    Direction,
    Member,
    Message,
    Organization,
    OrgKind,
    Recording,
    RecordingKind,
)
from tests.admin_ui.world import AdminClient, World, db, login_as
from tests.factories import make_org

STRANGER = "+8613900000088"


def _phone_of(app: Flask, member_id: int) -> str:
    with db(app) as session:
        member = session.get(Member, member_id)
        assert member is not None
        return member.phone


def _texts_from(app: Flask, phone: str) -> int:
    with db(app) as session:
        inbound = select(func.count()).where(
            Message.phone == phone, Message.direction == Direction.IN
        )
        return session.scalar(inbound) or 0


def test_the_phone_simulator_acts_only_as_members_the_user_sees(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A branch user may text and dial as its own members; as another branch's or township's
    member, or as a number on no member, it gets 404 and nothing reaches the webhooks."""
    admin = login_as(client, "branch")
    for other in (world.carol, world.dave):
        phone = _phone_of(app, other)
        assert admin.post("/admin/phone/text", {"phone": phone, "body": "HB 1"}).status_code == 404
        dialled = admin.post("/admin/phone/call", {"action": "dial", "phone": phone})
        assert dialled.status_code == 404
        assert _texts_from(app, phone) == 0
        with db(app) as session:
            assert session.scalar(select(Call).where(Call.phone == phone)) is None
    assert admin.post("/admin/phone/text", {"phone": STRANGER, "body": "你好"}).status_code == 404
    assert _texts_from(app, STRANGER) == 0
    own = _phone_of(app, world.bob)
    before = _texts_from(app, own)
    assert admin.post("/admin/phone/text", {"phone": own, "body": "HB 1"}).status_code == 302
    assert _texts_from(app, own) == before + 1

    office = login_as(client, "township")
    assert office.post("/admin/phone/text", {"phone": STRANGER, "body": "你好"}).status_code == 302
    assert _texts_from(app, STRANGER) == 1
    dave = _phone_of(app, world.dave)
    assert office.post("/admin/phone/text", {"phone": dave, "body": "HB 1"}).status_code == 404


def _unknown_recording(app: Flask) -> int:
    with app.app_context():
        session = get_session()
        call = Call(direction=CallDirection.INBOUND, phone=STRANGER, status=CallStatus.COMPLETED)
        session.add(call)
        session.flush()
        recording = Recording(
            call_id=call.id,
            phone=STRANGER,
            kind=RecordingKind.UNKNOWN_CALLER,
            url="recordings/thought.wav",
        )
        session.add(recording)
        session.commit()
        return recording.id


def test_only_township_users_see_unknown_numbers_and_callers(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A branch user sees no text or recording from a number on no member: not on the
    dashboard, not in the inbox, not on the link page, not as audio; the township does."""
    recording_id = _unknown_recording(app)
    branch = login_as(client, "branch")
    unknown_text = "我是东村的王五"
    dashboard = branch.get("/admin/").get_data(as_text=True)
    assert world.unmatched_phone not in dashboard and unknown_text not in dashboard
    unmatched = branch.get("/admin/inbox?tab=unmatched").get_data(as_text=True)
    assert world.unmatched_phone not in unmatched and 'data-tab="unmatched"' not in unmatched
    recordings = branch.get("/admin/inbox?tab=recordings").get_data(as_text=True)
    assert f"/admin/recordings/{recording_id}/audio" not in recordings
    assert branch.get(f"/admin/recordings/{recording_id}/audio").status_code == 404
    link = branch.get("/admin/inbox/link", query_string={"phone": world.unmatched_phone})
    assert link.status_code == 403
    linked = branch.post(
        "/admin/inbox/link", {"phone": world.unmatched_phone, "member_id": str(world.bob)}
    )
    assert linked.status_code == 403
    with db(app) as session:
        message_id = session.scalar(select(Message.id).where(Message.member_id.is_(None)))
    branch.post("/admin/inbox/handled", {"message_ids": [message_id], "tab": "texts"})
    with db(app) as session:
        message = session.get(Message, message_id)
        assert message is not None and message.member_id is None and not message.handled

    office = login_as(client, "township")
    dashboard = office.get("/admin/").get_data(as_text=True)
    assert world.unmatched_phone in dashboard
    assert world.unmatched_phone in office.get("/admin/inbox?tab=unmatched").get_data(as_text=True)
    recordings = office.get("/admin/inbox?tab=recordings").get_data(as_text=True)
    assert f"/admin/recordings/{recording_id}/audio" in recordings
    assert office.get(f"/admin/recordings/{recording_id}/audio").status_code == 200
    page = office.get("/admin/inbox/link", query_string={"phone": world.unmatched_phone})
    assert unknown_text in page.get_data(as_text=True)


def test_the_member_form_offers_and_takes_only_the_townships_hosts(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The host choices are the hosts filed under the user's township (and the member's
    present host); a forged POST with another township's host is refused, nothing saved."""
    with app.app_context():
        session = get_session()
        township = session.get(Organization, world.township)
        other = session.get(Organization, world.other_township)
        assert township is not None and other is not None
        ours = make_org(session, "东莞长安镇流动党支部", OrgKind.HOST, township, city="东莞")
        theirs = make_org(session, "深圳龙华区流动党支部", OrgKind.HOST, other, city="深圳")
        session.commit()
        ours_id, theirs_id = ours.id, theirs.id
    admin = login_as(client, "branch")
    form = admin.get(f"/admin/members/{world.alice}/edit").get_data(as_text=True)
    assert f'value="{ours_id}"' in form
    assert f'value="{world.host}"' in form  # alice's present host stays a choice
    assert f'value="{theirs_id}"' not in form and "深圳龙华区" not in form
    bob_form = admin.get(f"/admin/members/{world.bob}/edit").get_data(as_text=True)
    assert f'value="{world.host}"' not in bob_form  # filed under no township
    details = {"name": "李建国", "status": "full", "language": "zh_CN", "city": "深圳"}
    forged = admin.post(f"/admin/members/{world.bob}/edit", {**details, "host_org_id": theirs_id})
    assert forged.status_code == 400
    with db(app) as session:
        bob = session.get(Member, world.bob)
        assert bob is not None and bob.host_org_id is None and bob.city != "深圳"
    chosen = admin.post(f"/admin/members/{world.bob}/edit", {**details, "host_org_id": ours_id})
    assert chosen.status_code == 302
    with db(app) as session:
        bob = session.get(Member, world.bob)
        assert bob is not None and bob.host_org_id == ours_id


def _check_register(admin: AdminClient, rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["姓名", "手机号", "支部", "流入地党组织"], *rows])
    response = admin.post(
        "/admin/register",
        {"register": (io.BytesIO(buffer.getvalue().encode("utf-8")), "名册.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_register_upload_attaches_only_to_the_townships_hosts(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A register row naming another township's host is a bad row (nothing can be imported);
    the township's own host is taken."""
    with app.app_context():
        session = get_session()
        township = session.get(Organization, world.township)
        other = session.get(Organization, world.other_township)
        assert township is not None and other is not None
        make_org(session, "东莞长安镇流动党支部", OrgKind.HOST, township, city="东莞")
        make_org(session, "深圳龙华区流动党支部", OrgKind.HOST, other, city="深圳")
        session.commit()
    admin = login_as(client, "branch")
    refused = _check_register(
        admin, [["周新华", "13912340001", "东村党支部", "深圳龙华区流动党支部"]]
    )
    assert "unknown host organisation" in refused and 'name="token"' not in refused
    taken = _check_register(
        admin, [["周新华", "13912340001", "东村党支部", "东莞长安镇流动党支部"]]
    )
    assert "unknown host organisation" not in taken and 'name="token" value="' in taken
