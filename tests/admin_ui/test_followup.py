"""Following members up: non-reporters and make-up training, help requests, the inbox."""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from models import (
    AuditLog,
    CallDirection,
    HelpNote,
    HelpRequest,
    HelpStatus,
    MakeupFlag,
    Member,
    Message,
    MessageStatus,
)
from models.period import shift_period
from tests.admin_ui.world import World, db, login_as
from tests.support import TwilioClient


def _last_month(world: World) -> str:
    return shift_period(world.period, -1)


def test_flag_non_reporters_then_export_and_mark_attendance(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Flag two members in a season, export the roster as CSV and XLSX, mark one attended."""
    admin = login_as(client, "branch")
    page = admin.get("/admin/nonreporters").get_data(as_text=True)
    assert "李建国" in page  # bob reported nothing last year
    response = admin.post(
        "/admin/nonreporters/flag",
        {"season": "2027春节", "member_ids": [world.alice, world.bob], "reason": "2025-12~2026-11"},
    )
    assert response.status_code == 302
    csv_response = admin.get("/admin/nonreporters/roster.csv?season=2027春节")
    rows = list(csv.reader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["补课批次", "姓名", "手机号"]
    assert sorted(r[1] for r in rows[1:]) == ["李建国", "王秀英"]
    assert "attachment" in csv_response.headers["Content-Disposition"]
    xlsx = admin.get("/admin/nonreporters/roster.xlsx?season=2027春节")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    assert sheet is not None
    assert sorted(row[1] for row in sheet.iter_rows(min_row=2, values_only=True)) == [
        "李建国",
        "王秀英",
    ]
    with db(app) as session:
        flag_id = session.scalar(select(MakeupFlag.id).where(MakeupFlag.member_id == world.bob))
    admin.post(
        "/admin/nonreporters/roster/attendance",
        {"season": "2027春节", "flag_ids": [flag_id], "attended": "1"},
    )
    with db(app) as session:
        flags = {f.member_id: f for f in session.scalars(select(MakeupFlag))}
        exports = session.scalars(select(AuditLog.target).where(AuditLog.action == "export")).all()
    assert flags[world.bob].attended_at is not None
    assert flags[world.alice].attended_at is None
    assert set(exports) == {"makeup:2027春节:csv", "makeup:2027春节:xlsx"}


def test_flagging_needs_a_season_and_only_reaches_the_users_members(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """No season: nothing flagged, a message. Members of another branch are quietly left out."""
    admin = login_as(client, "branch")
    admin.post("/admin/nonreporters/flag", {"season": "", "member_ids": [world.bob]})
    admin.post(
        "/admin/nonreporters/flag", {"season": "2027春节", "member_ids": [world.carol, world.dave]}
    )
    with db(app) as session:
        assert session.scalars(select(MakeupFlag)).all() == []


def test_help_request_assigned_noted_and_resolved_with_a_text(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Assign, note, then resolve: the request closes and the member is texted how."""
    admin = login_as(client, "branch")
    admin.post(f"/admin/help/{world.help_id}/assign", {"assignee_id": str(world.users["liaison"])})
    admin.post(f"/admin/help/{world.help_id}/note", {"text": "已联系劳动监察大队"})
    empty = admin.post(f"/admin/help/{world.help_id}/resolve", {"resolution": ""})
    assert empty.status_code == 400 and "此项必填" in empty.get_data(as_text=True)
    done = admin.post(f"/admin/help/{world.help_id}/resolve", {"resolution": "工资已追回"})
    assert done.status_code == 302
    with db(app) as session:
        request = session.get(HelpRequest, world.help_id)
        assert request is not None
        assert request.status is HelpStatus.RESOLVED
        assert request.assignee_id == world.users["liaison"]
        notes = session.scalars(select(HelpNote.text)).all()
        sms = session.scalar(select(Message).where(Message.template_key == "help_resolved"))
    assert "已联系劳动监察大队" in notes
    assert sms is not None and sms.member_id == world.alice and sms.essential
    assert sms.body == f"您的求助QZ{world.help_id}已办结:工资已追回"
    again = admin.post(f"/admin/help/{world.help_id}/resolve", {"resolution": "再次"})
    assert again.status_code == 302
    with db(app) as session:
        assert (
            len(
                session.scalars(
                    select(Message).where(Message.template_key == "help_resolved")
                ).all()
            )
            == 1
        )


def test_the_closing_text_is_queued_for_a_member_who_opted_out(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A member who texted TD still gets the answer to their own request: queued, not skipped."""
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None
        phone = alice.phone
    stop = TwilioClient(app.test_client()).post(
        "/sms",
        {
            "MessageSid": "SM" + "7" * 32,
            "AccountSid": "AC" + "0" * 32,
            "From": phone,
            "To": "+8610690000",
            "Body": "TD",
        },
    )
    assert stop.status_code == 200
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None and alice.opted_out
    admin = login_as(client, "branch")
    done = admin.post(f"/admin/help/{world.help_id}/resolve", {"resolution": "工资已追回"})
    assert done.status_code == 302
    with db(app) as session:
        sms = session.scalar(select(Message).where(Message.template_key == "help_resolved"))
    assert sms is not None and sms.member_id == world.alice
    assert sms.status is MessageStatus.QUEUED


def test_help_list_filters(client: FlaskClient, world: World) -> None:
    """Filtering by a status or category the request does not have hides it."""
    admin = login_as(client, "township")
    assert f"QZ{world.help_id}" in admin.get("/admin/help?status=open&category=wages").get_data(
        as_text=True
    )
    assert f"QZ{world.help_id}" not in admin.get("/admin/help?status=resolved").get_data(
        as_text=True
    )
    assert f"QZ{world.help_id}" not in admin.get("/admin/help?category=housing").get_data(
        as_text=True
    )


def test_inbox_marks_handled_and_links_an_unregistered_number(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Handled texts leave the inbox; an unknown number's texts are attached to a member."""
    admin = login_as(client, "branch")
    with db(app) as session:
        bob_text = session.scalar(select(Message.id).where(Message.member_id == world.bob))
    assert "我换工作了" in admin.get("/admin/inbox").get_data(as_text=True)
    admin.post("/admin/inbox/handled", {"message_ids": [bob_text], "tab": "texts"})
    assert "我换工作了" not in admin.get("/admin/inbox").get_data(as_text=True)
    admin = login_as(client, "township")  # unknown numbers are the township office's
    unmatched = admin.get("/admin/inbox?tab=unmatched").get_data(as_text=True)
    assert world.unmatched_phone in unmatched
    admin.post(
        "/admin/inbox/link",
        {"phone": world.unmatched_phone, "member_id": str(world.bob), "make_phone": "y"},
    )
    with db(app) as session:
        linked = session.scalar(select(Message).where(Message.phone == world.unmatched_phone))
        bob = session.get(Member, world.bob)
    assert linked is not None and linked.member_id == world.bob
    assert bob is not None and bob.phone == world.unmatched_phone
    assert world.unmatched_phone not in admin.get("/admin/inbox?tab=unmatched").get_data(
        as_text=True
    )


def test_inbox_cannot_link_to_someone_elses_member(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Linking a number to a member of another township is refused."""
    admin = login_as(client, "township")
    admin.post("/admin/inbox/link", {"phone": world.unmatched_phone, "member_id": str(world.dave)})
    with db(app) as session:
        linked = session.scalar(select(Message).where(Message.phone == world.unmatched_phone))
    assert linked is not None and linked.member_id is None


def test_help_page_plays_the_recording_of_a_keypad_request(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A request made by keypad carries its spoken details: its page has a player for them."""
    from pathlib import Path

    from models import Call, CallStatus, Recording, RecordingKind
    from tests.admin_ui.world import tone_wav

    target = Path(app.config["UPLOAD_DIR"]) / "recordings" / "help.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(tone_wav())
    with db(app) as session:
        member = session.get(Member, world.alice)
        assert member is not None
        call = Call(
            direction=CallDirection.INBOUND,
            member_id=member.id,
            phone=member.phone,
            status=CallStatus.COMPLETED,
        )
        session.add(call)
        session.flush()
        recording = Recording(
            call_id=call.id,
            member_id=member.id,
            phone=member.phone,
            kind=RecordingKind.HELP,
            url="recordings/help.wav",
            duration=42,
            help_request_id=world.help_id,
        )
        session.add(recording)
        session.commit()
        recording_id = recording.id
    admin = login_as(client, "liaison")
    page = admin.get(f"/admin/help/{world.help_id}").get_data(as_text=True)
    assert (
        f'<audio controls preload="metadata" src="/admin/recordings/{recording_id}/audio">' in page
    )
    assert "42s" in page and "工资拖欠三个月" in page
    audio = admin.get(f"/admin/recordings/{recording_id}/audio")
    assert audio.status_code == 200 and audio.get_data()[:4] == b"RIFF"
