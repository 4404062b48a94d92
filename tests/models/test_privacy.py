"""Privacy: the notice before a member's first text, each retention rule on a controlled
clock, the nightly run once a local night, masking, a member's own file and erasure, and the
access review with unused logins disabled."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Call,
    CallDirection,
    CallStatus,
    Conversation,
    Direction,
    HelpCategory,
    Member,
    MemberChange,
    Message,
    MessageStatus,
    OrgKind,
    PhoneChange,
    Recording,
    RecordingKind,
    Role,
    open_help_request,
)
from models.audit import AuditAction, AuditLog, audit
from models.contact import ContactKind, ContactLog
from models.deed import Deed, DeedStatus
from models.help import HelpStatus
from models.member import ChangeField, ChangeSource, opt_out
from models.notice import NOTICE_TEMPLATE, NOTICE_VERSION, NoticeChannel, PrivacyNotice
from models.outbox import queue_sms
from models.privacy import (
    PrivacyError,
    RetentionRun,
    access_review,
    apply_retention,
    check_retention,
    erase_member,
    mask_phone,
    member_file,
    months_before,
    nightly,
    set_retention,
)
from models.register import import_members, read_table
from models.report import Channel, record_report
from tests.data.registers import write_table
from tests.factories import make_member, make_org, make_tree, make_user
from workers import reminders

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 6, 15, 2, 30, tzinfo=SHANGHAI)  # a night in Shanghai


def notices(session: Session, member_id: int) -> list[PrivacyNotice]:
    """The member's notice records."""
    return list(session.scalars(select(PrivacyNotice).where(PrivacyNotice.member_id == member_id)))


def test_the_notice_goes_before_the_first_text_once(session: Session) -> None:
    """A member never told gets the notice queued just before their first text, recorded with
    the wording's version; the second text goes alone."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, notified=False)
    first = queue_sms(session, template_key="help_pending", params={"ref": "QZ1"}, member=member)
    second = queue_sms(session, template_key="help_pending", params={"ref": "QZ2"}, member=member)
    rows = list(
        session.scalars(select(Message).where(Message.member_id == member.id).order_by(Message.id))
    )
    assert [r.template_key for r in rows] == [NOTICE_TEMPLATE, "help_pending", "help_pending"]
    assert rows[1].id == first.id and rows[2].id == second.id
    assert "录音" in rows[0].body and rows[0].status is MessageStatus.QUEUED
    [record] = notices(session, member.id)
    assert (record.version, record.channel, record.message_id) == (
        NOTICE_VERSION,
        NoticeChannel.SMS,
        rows[0].id,
    )


def test_a_member_told_at_registration_gets_no_notice_text(session: Session) -> None:
    """A member the factory registers as told gets their text alone."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    queue_sms(session, template_key="help_pending", params={"ref": "QZ1"}, member=member)
    keys = session.scalars(select(Message.template_key).where(Message.member_id == member.id))
    assert list(keys) == ["help_pending"]


def test_an_opted_out_member_is_not_recorded_as_told(session: Session) -> None:
    """After TD a non-essential text is skipped, and so is its notice: nothing is recorded,
    so the next text that does go takes the notice along (an essential one, after TD)."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, notified=False)
    opt_out(session, member)
    queue_sms(session, template_key="help_pending", params={"ref": "QZ1"}, member=member)
    assert notices(session, member.id) == []
    queue_sms(
        session,
        template_key="help_resolved",
        params={"ref": "QZ1", "note": "已解决"},
        member=member,
        essential=True,
    )
    [record] = notices(session, member.id)
    notice = session.get(Message, record.message_id)
    assert notice is not None and notice.status is MessageStatus.QUEUED and notice.essential


def test_the_register_import_records_the_notice_for_new_and_existing_members(
    session: Session, tmp_path: Path
) -> None:
    """Importing a register records, for each member on it not yet told, that the branch told
    them (channel register); a member already told keeps their one record."""
    _, branch, _ = make_tree(session)
    existing = make_member(session, branch, phone="+8613800138000", name="王建国", notified=False)
    told = make_member(session, branch, phone="+8613900139000", name="李秀英")
    rows = [
        ("姓名", "手机号", "支部"),
        ("王建国", "13800138000", branch.name),
        ("李秀英", "13900139000", branch.name),
        ("张新", "13700137000", branch.name),
    ]
    result = import_members(session, read_table(write_table(rows, tmp_path / "r.csv")))
    assert result.ok, result.errors
    new = session.scalars(select(Member).where(Member.phone == "+8613700137000")).one()
    for member_id in (existing.id, new.id):
        [record] = notices(session, member_id)
        assert record.channel is NoticeChannel.REGISTER and record.version == NOTICE_VERSION
    assert len(notices(session, told.id)) == 1


def test_months_before_keeps_the_local_day() -> None:
    """Calendar months back in the township's zone; a shorter month gives its last day."""
    assert months_before(NOW, 12, SHANGHAI) == datetime(2026, 6, 15, 2, 30, tzinfo=SHANGHAI)
    end_of_march = datetime(2027, 3, 31, 12, tzinfo=SHANGHAI)
    assert months_before(end_of_march, 1, SHANGHAI).date() == date(2027, 2, 28)


def _recording(session: Session, member: Member, created: datetime, **extra: object) -> Recording:
    call = Call(
        direction=CallDirection.INBOUND,
        member_id=member.id,
        phone=member.phone,
        status=CallStatus.COMPLETED,
        created_at=created,
    )
    session.add(call)
    session.flush()
    recording = Recording(
        call_id=call.id,
        member_id=member.id,
        phone=member.phone,
        kind=extra.pop("kind", RecordingKind.THOUGHT_REPORT),
        url=f"https://example.invalid/{call.id}.wav",
        duration=30,
        handled=extra.pop("handled", True),
        created_at=created,
        **extra,
    )
    session.add(recording)
    session.flush()
    return recording


def test_recordings_lose_their_audio_after_the_set_months_once_handled(session: Session) -> None:
    """A handled recording older than recording_months loses its audio; its row, length and
    call stay. A younger one, an unhandled one, one of an open help request and one of a deed
    waiting for confirmation keep theirs; a dry run changes nothing."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    cutoff = months_before(NOW, 12, SHANGHAI)
    old = _recording(session, member, cutoff - timedelta(hours=1))
    young = _recording(session, member, cutoff + timedelta(hours=1))
    unhandled = _recording(session, member, cutoff - timedelta(days=1), handled=False)
    request = open_help_request(
        session, member, category=HelpCategory.WAGES, text="工资", channel=Channel.IVR
    )
    helped = _recording(
        session, member, cutoff - timedelta(days=1), kind=RecordingKind.HELP,
        help_request_id=request.id,
    )  # fmt: skip
    deed_audio = _recording(session, member, cutoff - timedelta(days=1), kind=RecordingKind.DEED)
    session.add(
        Deed(
            member_id=member.id,
            org_id=branch.id,
            item=1,
            channel=Channel.IVR,
            recording_id=deed_audio.id,
            status=DeedStatus.PENDING,
        )
    )
    session.flush()

    counted = apply_retention(session, township, NOW, dry_run=True)
    assert counted.recordings == [old.id]
    session.refresh(old)
    assert old.url != ""

    removed = apply_retention(session, township, NOW)
    assert removed.recordings == [old.id]
    session.expire_all()
    assert old.url == "" and old.deleted_at == NOW and old.duration == 30
    assert session.get(Call, old.call_id) is not None
    assert all(r.url for r in (young, unhandled, helped, deed_audio))

    # The help request resolved: its recording goes the next night.
    request.status = HelpStatus.RESOLVED
    session.flush()
    assert apply_retention(session, township, NOW).recordings == [helped.id]


def _inbound(session: Session, member: Member, body: str, at: datetime, handled: bool) -> Message:
    message = Message(
        direction=Direction.IN,
        member_id=member.id,
        phone=member.phone,
        body=body,
        status=MessageStatus.RECEIVED,
        handled=handled,
        command="unknown",
        created_at=at,
    )
    session.add(message)
    session.flush()
    return message


def test_inbound_texts_lose_their_body_after_the_set_months(session: Session) -> None:
    """A handled inbound text older than inbound_months keeps its row and command but not its
    body; a younger one, an unhandled one and one of a member with an open help request
    keep theirs. A township's shorter setting takes effect."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    helped = make_member(session, branch)
    open_help_request(
        session, helped, category=HelpCategory.WAGES, text="工资", channel=Channel.SMS
    )
    set_retention(township, check_retention({
        "recording_months": 6, "inbound_months": 3, "audit_months": 24, "unused_user_days": 90,
    }))  # fmt: skip
    cutoff = months_before(NOW, 3, SHANGHAI)
    old = _inbound(session, member, "我在深圳", cutoff - timedelta(minutes=1), True)
    young = _inbound(session, member, "我在广州", cutoff + timedelta(minutes=1), True)
    unread = _inbound(session, member, "还没看", cutoff - timedelta(days=9), False)
    kept = _inbound(session, helped, "工资没发", cutoff - timedelta(days=9), True)
    removed = apply_retention(session, township, NOW)
    assert removed.inbound_texts == [old.id]
    session.expire_all()
    assert (old.body, old.command) == ("", "unknown")
    assert [m.body for m in (young, unread, kept)] == ["我在广州", "还没看", "工资没发"]


def test_finished_codes_expired_conversations_and_old_audit_entries_go(session: Session) -> None:
    """Expired or confirmed phone-change codes and expired conversations are deleted; audit
    entries older than audit_months are deleted, younger ones stay, and the run itself is
    audited with its figures."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    other = make_member(session, branch)
    user = make_user(session, branch)
    session.add_all(
        [
            PhoneChange(
                member_id=member.id, new_phone="+8613911110000", code="123456",
                expires_at=NOW - timedelta(hours=1), created_at=NOW - timedelta(days=3),
            ),
            PhoneChange(
                member_id=other.id, new_phone="+8613911110001", code="654321",
                expires_at=NOW + timedelta(hours=1), created_at=NOW - timedelta(days=1),
            ),
            Conversation(
                member_id=member.id, topic="report", step="studied", data={},
                expires_at=NOW - timedelta(minutes=1),
            ),
            Conversation(
                member_id=other.id, topic="report", step="studied", data={},
                expires_at=NOW + timedelta(hours=5),
            ),
        ]
    )  # fmt: skip
    audit_cutoff = months_before(NOW, 60, SHANGHAI)
    audit(session, user.id, AuditAction.VIEW, "member:1")
    audit(session, user.id, AuditAction.VIEW, "member:2")
    session.flush()
    old_entry, young_entry = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    old_entry.at = audit_cutoff - timedelta(seconds=1)
    young_entry.at = audit_cutoff + timedelta(seconds=1)
    session.flush()

    removed = apply_retention(session, township, NOW)
    assert (removed.phone_changes, removed.conversations, removed.audit_entries) == (1, 1, 1)
    session.expire_all()
    assert list(session.scalars(select(PhoneChange.member_id))) == [other.id]
    assert list(session.scalars(select(Conversation.member_id))) == [other.id]
    entries = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert entries[0].id == young_entry.id
    run_entry = entries[-1]
    assert run_entry.action is AuditAction.RETENTION and run_entry.org_id == township.id
    assert run_entry.detail is not None and run_entry.detail["audit_entries"] == 1


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"recording_months": "x"}, "整数"),
        ({"recording_months": 0}, "之间"),
        ({"recording_months": 12, "inbound_months": 24, "audit_months": 24}, "更久"),
    ],
)
def test_bad_retention_settings_are_refused(values: dict[str, object], fragment: str) -> None:
    """Settings that are not whole numbers in range, or that keep the audit log no longer
    than the data it describes, are refused with why."""
    full = {"recording_months": 12, "inbound_months": 24, "audit_months": 60}
    full.update(values)  # type: ignore[arg-type]  # a deliberately wrong value
    full.setdefault("unused_user_days", 90)
    with pytest.raises(PrivacyError) as caught:
        check_retention(full)
    assert fragment in caught.value.zh


def test_unused_logins_are_disabled_and_the_review_lists_each_user(session: Session) -> None:
    """A login unused for unused_user_days (counting from its creation when never used) is
    disabled and its sessions end; a recent one stays. The review counts views and exports of
    the last 90 days only."""
    township, branch, _ = make_tree(session)
    idle = make_user(session, branch, Role.LIAISON)
    idle.created_at = NOW - timedelta(days=200)
    busy = make_user(session, branch)
    busy.created_at = NOW - timedelta(days=200)
    busy.last_login_at = NOW - timedelta(days=10)
    version = idle.session_version
    for days, action in ((5, AuditAction.VIEW), (6, AuditAction.EXPORT), (100, AuditAction.VIEW)):
        session.add(
            AuditLog(
                user_id=busy.id, action=action, target="member:1", at=NOW - timedelta(days=days)
            )
        )
    session.flush()
    rows = {r.user.id: r for r in access_review(session, township, NOW)}
    assert (rows[busy.id].views, rows[busy.id].exports) == (1, 1)
    assert (rows[idle.id].views, rows[idle.id].exports) == (0, 0)

    removed = apply_retention(session, township, NOW)
    assert removed.users_disabled == [idle.username]
    session.expire_all()
    assert not idle.active and idle.session_version == version + 1
    assert busy.active
    disabled = session.scalars(
        select(AuditLog).where(AuditLog.action == AuditAction.USER_DISABLED)
    ).one()
    assert disabled.target == f"user:{idle.id}" and disabled.org_id == township.id


def test_the_nightly_run_happens_once_a_local_night(session: Session) -> None:
    """Only between 01:00 and 06:00 in the township's zone, once a night; the hourly sweep
    (close_periods) is what runs it."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    old = _recording(session, member, NOW - timedelta(days=800))
    session.commit()
    evening = datetime(2027, 6, 14, 22, tzinfo=SHANGHAI)
    assert nightly(session, township, evening) is None
    reminders.close_periods(NOW.isoformat())
    reminders.close_periods((NOW + timedelta(hours=1)).isoformat())
    session.expire_all()
    runs = session.scalars(select(RetentionRun)).all()
    assert [(r.night, r.removed["recordings"]) for r in runs] == [(date(2027, 6, 15), 1)]
    assert session.get(Recording, old.id).url == ""  # type: ignore[union-attr]
    entries = session.scalar(select(func.count()).where(AuditLog.action == AuditAction.RETENTION))
    assert entries == 1
    # The next night runs again.
    reminders.close_periods((NOW + timedelta(days=1)).isoformat())
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(RetentionRun)) == 2


def test_mask_phone() -> None:
    """The middle of a number is hidden; short or empty values show nothing of themselves."""
    assert mask_phone("+8613800000001") == "138****0001"
    assert mask_phone("13800000001") == "138****0001"
    assert mask_phone("+447700900123") == "447****0123"
    assert mask_phone("12345") == "*****"
    assert mask_phone(None) == ""


def _rich_member(session: Session) -> tuple[Member, Recording]:
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, name="王建国", card_no="LD0001", active=False)
    record_report(session, member, period="2027-05", studied=True, channel=Channel.SMS)
    _inbound(session, member, "我在深圳电子厂", NOW - timedelta(days=3), True)
    recording = _recording(session, member, NOW - timedelta(days=3))
    open_help_request(
        session, member, category=HelpCategory.WAGES, text="工资拖欠", channel=Channel.SMS
    )
    session.add(
        MemberChange(
            member_id=member.id, field=ChangeField.CITY, old_value="广州", new_value="深圳",
            source=ChangeSource.SMS,
        )
    )  # fmt: skip
    session.add(
        ContactLog(
            member_id=member.id, kind=ContactKind.MONTHLY_CONTACT, period="2027-05",
            contact_date=date(2027, 5, 3), note="电话联系,在深圳",
        )
    )  # fmt: skip
    session.flush()
    return member, recording


def test_a_members_file_holds_everything_kept(session: Session) -> None:
    """The file lists the card, history, reports, texts, calls, recordings, help requests,
    contacts and notices."""
    member, _ = _rich_member(session)
    data = member_file(session, member)
    assert data["card"]["name"] == "王建国" and data["card"]["card_no"] == "LD0001"
    assert [h["new"] for h in data["history"]] == ["深圳"]
    assert [r["period"] for r in data["reports"]] == ["2027-05"]
    assert "我在深圳电子厂" in [m["body"] for m in data["messages"]]
    assert len(data["calls"]) == 1 and data["recordings"][0]["kept"] is True
    assert data["help_requests"][0]["text"] == "工资拖欠"
    assert data["contacts"][0]["note"] == "电话联系,在深圳"
    assert data["notices"][0]["channel"] == "register"


def test_erasure_keeps_a_tombstone(session: Session) -> None:
    """Erasing a member who left clears name, phones, places, texts, recordings, history and
    notes, and keeps the row with branch and dates and the counted facts; an active member
    or a second erasure is refused."""
    member, recording = _rich_member(session)
    branch_id, created = member.branch_id, member.created_at
    cleared = erase_member(session, member, NOW)
    session.flush()
    assert cleared["history"] == 1 and cleared["recordings"] == 1
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None
    assert (fresh.name, fresh.phone, fresh.card_no, fresh.city) == (
        "已删除",
        f"erased:{member.id}",
        None,
        None,
    )
    assert (fresh.branch_id, fresh.created_at, fresh.erased_at) == (branch_id, created, NOW)
    data = member_file(session, fresh)
    assert data["history"] == []
    assert {m["body"] for m in data["messages"]} == {""}
    assert data["reports"][0]["period"] == "2027-05" and data["reports"][0]["studied"] is True
    assert data["help_requests"][0]["text"] == "" and data["contacts"][0]["note"] == ""
    assert session.get(Recording, recording.id).url == ""  # type: ignore[union-attr]
    with pytest.raises(PrivacyError):
        erase_member(session, fresh, NOW)
    active = make_member(session, fresh.branch)
    with pytest.raises(PrivacyError):
        erase_member(session, active, NOW)


def test_nothing_of_another_township_is_touched(session: Session) -> None:
    """A township's run removes only its own members' data."""
    township, _, _ = make_tree(session)
    other_township = make_org(session, "白云镇", OrgKind.TOWNSHIP)
    other_branch = make_org(session, "南村党支部", OrgKind.BRANCH, other_township)
    stranger = make_member(session, other_branch)
    theirs = _recording(session, stranger, NOW - timedelta(days=800))
    assert apply_retention(session, township, NOW).recordings == []
    assert theirs.url
    assert apply_retention(session, other_township, NOW).recordings == [theirs.id]


def test_under_a_template_provider_the_notice_is_its_template(session: Session) -> None:
    """Under Alibaba's rules the notice is queued as the registry's template text, counted
    with the signature, before the text it precedes."""
    from models.sms_templates import ALIYUN, TemplateRules

    _, branch, _ = make_tree(session)
    member = make_member(session, branch, notified=False)
    rules = TemplateRules.for_provider(ALIYUN, sign_name="青山镇")
    queue_sms(
        session, template_key="help_pending", params={"ref": "QZ1"}, member=member, rules=rules
    )
    notice, text = session.scalars(
        select(Message).where(Message.member_id == member.id).order_by(Message.id)
    ).all()
    assert (notice.template_key, notice.status) == (NOTICE_TEMPLATE, MessageStatus.QUEUED)
    assert notice.body.startswith("告知") and notice.params == {}
    assert text.template_key == "help_pending"
    [record] = notices(session, member.id)
    assert record.message_id == notice.id


def test_an_erased_number_is_masked_as_erased() -> None:
    """The tombstone's placeholder number never shows as digits."""
    assert mask_phone("erased:12") == "已删除"
