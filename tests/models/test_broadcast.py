"""Broadcasts in the domain: checks on creation, targets, outbox parts, progress, reply links."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Broadcast,
    Channel,
    Direction,
    Message,
    MessageStatus,
    OrgKind,
    opt_out,
    record_report,
    utcnow,
)
from models.broadcast import (
    BroadcastError,
    Windows,
    asks_for_reply,
    broadcast_progress,
    create_broadcast,
    finish_resolving,
    next_part,
    notice_awaiting_reply_for,
    notice_text,
    resolve_recipients,
    write_outbox_part,
)
from models.member import Language
from models.report import NonReporter
from models.segments import count_segments
from models.targets import count_targeted, resolve_target
from tests.factories import make_member, make_org, make_tree, open_window_now


def _create(session: Session, org: object, **kwargs: object) -> Broadcast:
    values: dict[str, object] = {
        "org": org,
        "author_id": None,
        "text": "本周六开支部大会",
        "target": {},
        "scheduled_at": None,
        "now": utcnow(),
    }
    values.update(kwargs)
    return create_broadcast(session, **values)  # type: ignore[arg-type]


def _write_all(session: Session, broadcast: Broadcast) -> int:
    written, part = 0, next_part(session, broadcast, None)
    while part is not None:
        written += write_outbox_part(session, broadcast, part, utcnow())
        part = next_part(session, broadcast, part)
    return written


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"text": "   "}, "empty"),
        ({"text": "长" * 1601}, "too long"),
        ({"scheduled_at": utcnow() - timedelta(hours=1)}, "in the past"),
        ({"target": {"branches": ["没有这个支部"]}}, "Unknown branch: 没有这个支部"),
        ({"target": {"hosts": ["火星党支部"]}}, "Unknown host organisation"),
        ({"target": {"cities": ["拉萨"]}}, "No member lives in 拉萨"),
        ({"target": {"nonreporters": "2026-13"}}, "YYYY-MM"),
        ({"target": {"colour": ["red"]}}, "Unknown target filters"),
    ],
)
def test_bad_input_is_refused_with_a_bilingual_message(
    session: Session, kwargs: dict[str, object], fragment: str
) -> None:
    """Empty text, a past time or an unknown branch/host/city: a clear error, nothing stored."""
    township, branch, _ = make_tree(session)
    make_member(session, branch)
    with pytest.raises(BroadcastError) as caught:
        _create(session, township, **kwargs)
    assert fragment in str(caught.value)
    assert caught.value.zh and " / " in str(caught.value)
    assert session.scalar(select(func.count(Broadcast.id))) == 0


def test_a_target_that_reaches_nobody_is_refused(session: Session) -> None:
    """A branch whose only member opted out reaches nobody: refused, nothing stored."""
    township, branch, other = make_tree(session)
    opt_out(session, make_member(session, branch))
    make_member(session, other)
    with pytest.raises(BroadcastError, match="reaches no member"):
        _create(session, township, target={"branches": [branch.name]})


def test_the_target_counts_every_active_member_and_the_sendable_among_them(
    session: Session,
) -> None:
    """Members reached: the active ones of the scope; sendable: of those, not opted out and
    with a valid number. A branch target counts its own members only."""
    township, branch, other = make_tree(session)
    for _ in range(3):
        make_member(session, branch)
    opt_out(session, make_member(session, branch))
    make_member(session, branch).phone_invalid_at = utcnow()
    make_member(session, branch, active=False)
    make_member(session, other)
    session.flush()
    everyone = resolve_target(session, township, {})
    assert count_targeted(session, township.id, everyone) == (6, 4)
    east = resolve_target(session, township, {"branches": [branch.name]})
    assert count_targeted(session, township.id, east) == (5, 3)
    broadcast = _create(session, township)
    assert broadcast.recipients == 6


def test_a_branch_of_another_township_is_unknown(session: Session) -> None:
    """A township can only name its own branches."""
    township, branch, _ = make_tree(session)
    make_member(session, branch)
    elsewhere = make_org(session, "白水镇", OrgKind.TOWNSHIP)
    foreign = make_org(session, "白水村党支部", OrgKind.BRANCH, elsewhere)
    make_member(session, foreign)
    with pytest.raises(BroadcastError, match="Unknown branch"):
        _create(session, township, target={"branches": [foreign.name]})


def test_filters_narrow_across_keys_and_widen_within_one(session: Session) -> None:
    """Branches OR'd within the key, then AND'd with cities; inactive members are never reached."""
    township, east, west = make_tree(session)
    east_gz = make_member(session, east, city="广州")
    make_member(session, east, city="深圳")
    west_gz = make_member(session, west, city="广州")
    make_member(session, west, city="广州", active=False)
    broadcast = _create(
        session, township, target={"branches": [east.name, west.name], "cities": ["广州"]}
    )
    assert broadcast.recipients == 2
    part = next_part(session, broadcast, None)
    assert part is not None
    reached = {m.id for m in resolve_recipients(session, broadcast, part)}
    assert reached == {east_gz.id, west_gz.id}


def test_hosts_and_industries_filter(session: Session) -> None:
    """A host organisation and an industry each narrow the target."""
    township, branch, _ = make_tree(session)
    host = make_org(session, "广州白云区流动党员党支部", OrgKind.HOST)
    hosted = make_member(session, branch, host_org_id=host.id, industry="制造业")
    make_member(session, branch, industry="制造业")
    make_member(session, branch, host_org_id=host.id, industry="物流")
    broadcast = _create(session, township, target={"hosts": [host.name], "industries": ["制造业"]})
    assert broadcast.recipients == 1
    assert broadcast.target["hosts"] == [host.id]
    assert _write_all(session, broadcast) == 1
    assert session.scalars(select(Message.member_id)).all() == [hosted.id]


def test_nonreporters_of_an_open_period_are_those_without_a_report(session: Session) -> None:
    """Before a period closes its non-reporters are the members with no report yet."""
    township, branch, _ = make_tree(session)
    silent = make_member(session, branch)
    reported = make_member(session, branch)
    record_report(session, reported, period="2026-10", studied=True, channel=Channel.SMS)
    broadcast = _create(session, township, target={"nonreporters": "2026-10"})
    _write_all(session, broadcast)
    assert session.scalars(select(Message.member_id)).all() == [silent.id]


def test_nonreporters_of_a_closed_period_are_the_fixed_list(session: Session) -> None:
    """Once closed, the period's non-reporters are the NonReporter rows, late reports or not."""
    township, branch, _ = make_tree(session)
    fixed = make_member(session, branch)
    make_member(session, branch)  # reported in time, so not fixed
    session.add(NonReporter(member_id=fixed.id, branch_id=branch.id, period="2026-09"))
    record_report(session, fixed, period="2026-09", studied=True, channel=Channel.SMS)
    broadcast = _create(session, township, target={"nonreporters": "2026-09"})
    _write_all(session, broadcast)
    assert session.scalars(select(Message.member_id)).all() == [fixed.id]


def test_resolving_twice_writes_each_recipient_once(session: Session) -> None:
    """The outbox rows are unique per broadcast and member: a second resolution adds none."""
    township, east, west = make_tree(session)
    for branch in (east, west):
        for _ in range(3):
            make_member(session, branch)
    broadcast = _create(session, township)
    assert _write_all(session, broadcast) == 6
    assert _write_all(session, broadcast) == 0
    rows = session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)).all()
    assert len(rows) == 6
    assert {(r.template_key, r.params["text"], r.status) for r in rows} == {
        ("broadcast", "本周六开支部大会", MessageStatus.QUEUED)
    }


def test_opted_out_members_are_written_as_skipped_and_counted(session: Session) -> None:
    """Progress shows the opted-out as skipped; unresolved recipients count as queued."""
    township, branch, _ = make_tree(session)
    members = [make_member(session, branch) for _ in range(4)]
    opt_out(session, members[0])
    broadcast = _create(session, township)
    assert broadcast_progress(session, broadcast.id) == {
        "recipients": 4,
        "queued": 4,
        "sending": 0,
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "skipped": 0,
    }
    _write_all(session, broadcast)
    finish_resolving(session, broadcast)
    progress = broadcast_progress(session, broadcast.id)
    assert (progress["recipients"], progress["queued"], progress["skipped"]) == (4, 3, 1)


def test_undelivered_counts_as_failed(session: Session) -> None:
    """The progress has one failed bucket for failed and undelivered rows."""
    township, branch, _ = make_tree(session)
    for _ in range(3):
        make_member(session, branch)
    broadcast = _create(session, township)
    _write_all(session, broadcast)
    rows = session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)).all()
    rows[0].status, rows[1].status = MessageStatus.UNDELIVERED, MessageStatus.FAILED
    rows[2].status = MessageStatus.DELIVERED
    session.flush()
    progress = broadcast_progress(session, broadcast.id)
    assert (progress["failed"], progress["delivered"], progress["queued"]) == (2, 1, 0)


def test_a_notice_asking_for_answers_awaits_them_for_three_days(session: Session) -> None:
    """notice_awaiting_reply_for names a notice that asked for answers once it was sent, for
    three days from when it reached the member."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    broadcast = _create(session, township, text="本周六开支部大会,能参加请回复1")
    _write_all(session, broadcast)
    row = session.scalar(select(Message).where(Message.broadcast_id == broadcast.id))
    assert row is not None
    assert notice_awaiting_reply_for(session, member.id, utcnow()) is None  # not sent yet
    sent_at = utcnow()
    row.status, row.sent_at = MessageStatus.DELIVERED, sent_at
    session.flush()
    found = notice_awaiting_reply_for(session, member.id, utcnow())
    assert found is not None and found.broadcast_id == broadcast.id
    assert abs((found.sent_at - sent_at).total_seconds()) < 0.01
    later = utcnow() + timedelta(days=4)
    assert notice_awaiting_reply_for(session, member.id, later) is None


def test_a_notice_that_asks_nothing_awaits_no_answer(session: Session) -> None:
    """A notice that asks for no answer is passed over for an older one that did."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    now = utcnow()
    asking = _create(
        session, township, text="周六开会,请回复能否参加", now=now - timedelta(hours=5)
    )
    telling = _create(session, township, text="明天上午停电", now=now - timedelta(hours=1))
    for broadcast, hours in ((asking, 5), (telling, 1)):
        _write_all(session, broadcast)
        for row in session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)):
            row.status, row.sent_at = MessageStatus.SENT, now - timedelta(hours=hours)
    session.flush()
    found = notice_awaiting_reply_for(session, member.id, now)
    assert found is not None and found.broadcast_id == asking.id


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("周六开会,能参加请回复1,不能回复2", True),
        ("收到请回复", True),
        ("Please reply 1 to attend", True),
        ("明天上午停电,请做好准备", False),
        ("本月25日前完成学习", False),
    ],
)
def test_asks_for_reply(text: str, asks: bool) -> None:
    """A notice asks for answers when its text says 回复 / reply."""
    assert asks_for_reply(text) is asks


def test_progress_counts_each_member_once_not_the_replies(session: Session) -> None:
    """Replies linked to a notice are not recipients, and a retried row is one member."""
    township, branch, _ = make_tree(session)
    members = [make_member(session, branch) for _ in range(3)]
    broadcast = _create(session, township)
    _write_all(session, broadcast)
    rows = session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)).all()
    for row in rows:
        row.status = MessageStatus.SENT
    rows[0].attempts = 2  # sent on the second try
    for member in members:
        for body in ("收到", "好的,准时参加"):
            session.add(
                Message(
                    direction=Direction.IN,
                    member_id=member.id,
                    phone=member.phone,
                    body=body,
                    status=MessageStatus.RECEIVED,
                    broadcast_id=broadcast.id,
                )
            )
    session.flush()
    finish_resolving(session, broadcast)
    assert broadcast.recipients == 3
    progress = broadcast_progress(session, broadcast.id)
    assert (progress["recipients"], progress["sent"], progress["queued"]) == (3, 3, 0)


def test_each_row_gets_its_members_text_window_and_state_in_one_write(session: Session) -> None:
    """A notice form to members in both languages, one with a window of her own that is shut
    now, and one who opted out: each row has the text in the member's language and its
    segments, the shut window's opening as its time, and the opted-out row is skipped."""
    township, branch, _ = make_tree(session)
    open_window_now(township)
    now = utcnow()
    shut = (now + timedelta(hours=5)).astimezone(ZoneInfo("Asia/Shanghai"))
    chinese, english = make_member(session, branch), make_member(session, branch)
    english.language = Language.EN
    later = make_member(
        session,
        branch,
        window_start=shut.strftime("%H:%M"),
        window_end=(shut + timedelta(hours=1)).strftime("%H:%M"),
    )
    gone = make_member(session, branch)
    opt_out(session, gone)
    session.flush()
    params = {"date": "周六上午", "place": "村委会", "topic": "学习"}
    broadcast = _create(session, township, template_key="notice_meeting", params=params)

    assert _write_all(session, broadcast) == 4

    rows = {
        m.member_id: m
        for m in session.scalars(select(Message).where(Message.broadcast_id == broadcast.id))
    }
    zh, en = (notice_text("notice_meeting", params, lang) for lang in ("zh_CN", "en"))
    assert zh != en
    assert {member.id: rows[member.id].body for member in (chinese, english, later, gone)} == {
        chinese.id: zh,
        english.id: en,
        later.id: zh,
        gone.id: zh,
    }
    assert rows[english.id].segments == count_segments(en).segments
    assert rows[chinese.id].segments == count_segments(zh).segments
    assert [rows[m.id].status for m in (chinese, english, later, gone)] == [
        MessageStatus.QUEUED,
        MessageStatus.QUEUED,
        MessageStatus.QUEUED,
        MessageStatus.SKIPPED,
    ]
    assert rows[chinese.id].next_attempt_at is None and rows[gone.id].next_attempt_at is None
    opens = Windows(session).not_before(branch.id, later.window_start, later.window_end, now)
    assert opens is not None and rows[later.id].next_attempt_at is not None
    assert abs(rows[later.id].next_attempt_at - opens) < timedelta(seconds=5)
    assert rows[english.id].params == params and rows[english.id].template_key == "notice_meeting"
