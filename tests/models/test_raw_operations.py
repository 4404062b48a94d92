"""The webhook's raw-connection operations: reports, moves, opt-outs, questions, senders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from models import (
    Broadcast,
    ChangeField,
    Channel,
    Conversation,
    Language,
    Member,
    MemberChange,
    Message,
    MessageStatus,
    Organization,
    Report,
    ReportRevision,
    record_report,
    utcnow,
)
from models.broadcast import create_broadcast, next_part, notice_awaiting_reply, write_outbox_part
from models.inbound import find_sender
from models.member import set_opted_out
from models.message import forget_question, open_question
from models.question import HelpAsked, Question, ReportAnswers, Step, Topic
from models.report import save_report
from models.sql import Raw
from tests.factories import make_member, make_tree

PERIOD = "2025-03"


def raw_of(session: Session) -> Raw:
    """The raw side of the session's connection, in its current transaction."""
    return Raw.of(session.connection())


def count(session: Session, model: type) -> int:
    """Rows in a table, read fresh."""
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def branch(session: Session) -> Organization:
    """A branch of a township."""
    _, created, _ = make_tree(session)
    return created


@pytest.fixture
def member(session: Session, branch: Organization) -> Member:
    """A member in Guangzhou at an electronics factory, committed."""
    created = make_member(session, branch, phone="+8613800000001")
    session.commit()
    return created


def changes(session: Session, member: Member) -> list[tuple[ChangeField, str | None, str | None]]:
    """The member's history as (field, old, new), oldest first."""
    session.expire_all()
    rows = session.scalars(
        select(MemberChange).where(MemberChange.member_id == member.id).order_by(MemberChange.id)
    )
    return [(row.field, row.old_value, row.new_value) for row in rows]


# --- save_report / record_report --------------------------------------------------------------


def test_second_report_in_a_period_is_revision_two_of_the_same_row(
    session: Session, member: Member
) -> None:
    """Two saves in one period: one report, revision 2, same receipt, two revision rows."""
    raw = raw_of(session)
    current = (member.city, member.employer)
    first = save_report(
        raw,
        member.id,
        current=current,
        period=PERIOD,
        studied=True,
        channel=Channel.SMS,
        at=utcnow(),
    )
    second = save_report(
        raw,
        member.id,
        current=current,
        period=PERIOD,
        studied=False,
        channel=Channel.IVR,
        at=utcnow(),
    )
    assert (first.revision, second.revision) == (1, 2)
    assert second.id == first.id and second.receipt == first.receipt
    session.commit()
    [report] = session.scalars(select(Report)).all()
    assert report.revision == 2 and report.receipt == first.receipt
    assert report.studied is False and report.channel is Channel.IVR
    revisions = session.scalars(select(ReportRevision).order_by(ReportRevision.revision)).all()
    assert [(r.report_id, r.revision, r.channel) for r in revisions] == [
        (report.id, 1, Channel.SMS),
        (report.id, 2, Channel.IVR),
    ]
    assert [r.data["studied"] for r in revisions] == [True, False]


def test_report_in_another_period_is_a_new_report(session: Session, member: Member) -> None:
    """A save for the next period makes its own report at revision 1 with its own receipt."""
    raw = raw_of(session)
    current = (member.city, member.employer)
    march = save_report(
        raw,
        member.id,
        current=current,
        period="2025-03",
        studied=True,
        channel=Channel.SMS,
        at=utcnow(),
    )
    april = save_report(
        raw,
        member.id,
        current=current,
        period="2025-04",
        studied=True,
        channel=Channel.SMS,
        at=utcnow(),
    )
    assert april.id != march.id and april.revision == 1 and april.receipt != march.receipt
    assert count(session, Report) == 2


def test_report_with_a_new_city_moves_the_member_once(session: Session, member: Member) -> None:
    """A new city moves the member with one history row; the same city again adds none."""
    raw = raw_of(session)
    saved = save_report(
        raw,
        member.id,
        current=("广州", "电子厂"),
        period=PERIOD,
        studied=True,
        channel=Channel.SMS,
        city="东莞",
        at=utcnow(),
    )
    assert (saved.city, saved.employer) == ("东莞", "电子厂")
    again = save_report(
        raw,
        member.id,
        current=(saved.city, saved.employer),
        period=PERIOD,
        studied=True,
        channel=Channel.SMS,
        city="东莞",
        at=utcnow(),
    )
    assert (again.city, again.employer) == ("东莞", "电子厂")
    session.commit()
    assert changes(session, member) == [(ChangeField.CITY, "广州", "东莞")]
    [change] = session.scalars(select(MemberChange)).all()
    assert change.source == "sms"
    fresh = session.get(Member, member.id)
    assert fresh is not None and (fresh.city, fresh.employer) == ("东莞", "电子厂")
    report = session.scalar(select(Report))
    assert report is not None and report.city == "东莞" and report.same_city is True
    revisions = session.scalars(select(ReportRevision).order_by(ReportRevision.revision)).all()
    assert [r.data["same_city"] for r in revisions] == [False, True]


def test_record_report_keeps_the_orm_member_in_sync_and_clean(
    session: Session, member: Member
) -> None:
    """record_report moves the ORM member's city without leaving it dirty or changed twice."""
    # Raw statements bypass SQLAlchemy's events: any UPDATE of members seen here is the ORM's.
    orm_statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        orm_statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        record_report(
            session, member, period=PERIOD, studied=True, channel=Channel.ADMIN, city="东莞"
        )
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert not [s for s in orm_statements if s.lstrip().upper().startswith("UPDATE MEMBERS")]
    assert member.city == "东莞" and member.employer == "电子厂"
    assert member not in session.dirty
    assert not session.is_modified(member)
    session.commit()
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.city == "东莞"
    assert changes(session, member) == [(ChangeField.CITY, "广州", "东莞")]


def test_record_report_returns_the_latest_revision(session: Session, member: Member) -> None:
    """A second record_report returns the report object as its new revision says, not stale."""
    first = record_report(session, member, period=PERIOD, studied=True, channel=Channel.SMS)
    assert first.revision == 1 and first.studied is True
    second = record_report(
        session, member, period=PERIOD, studied=False, channel=Channel.IVR, employer="鞋厂"
    )
    assert second is first  # the session's one object for the row, refreshed
    assert second.revision == 2 and second.studied is False and second.channel is Channel.IVR
    assert second.employer == "鞋厂" and second.same_employer is False
    assert member.employer == "鞋厂" and not session.is_modified(member)


# --- opt-out ----------------------------------------------------------------------------------


def test_opting_out_twice_keeps_the_first_time_and_none_clears_it(
    session: Session, member: Member
) -> None:
    """set_opted_out keeps the first opt-out time on a second call; None opts back in."""
    first = utcnow() - timedelta(days=2)
    raw = raw_of(session)
    set_opted_out(raw, member.id, first)
    set_opted_out(raw, member.id, utcnow())
    session.commit()
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.opted_out_at == first
    set_opted_out(raw_of(session), member.id, None)
    session.commit()
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.opted_out_at is None


# --- questions and the sender -----------------------------------------------------------------


def test_asking_again_replaces_the_question_and_forgetting_removes_it(
    session: Session, member: Member
) -> None:
    """A member has one open question: a second ask replaces it, forget_question drops it."""
    now = utcnow()
    raw = raw_of(session)
    open_question(
        raw,
        member.id,
        Question(Topic.REPORT, Step.SAME, ReportAnswers(studied=True)),
        now=now,
        ttl_hours=72,
    )
    expires_at = open_question(
        raw, member.id, Question(Topic.HELP, Step.DETAILS, HelpAsked(7)), now=now, ttl_hours=1
    )
    session.commit()
    [conversation] = session.scalars(select(Conversation)).all()
    assert (conversation.topic, conversation.step) == ("help", "details")
    assert conversation.data == {"request": 7}
    assert conversation.expires_at == expires_at == now + timedelta(hours=1)
    forget_question(raw_of(session), member.id)
    session.commit()
    assert count(session, Conversation) == 0


def test_find_sender_reads_member_branch_and_question(
    session: Session, branch: Organization
) -> None:
    """find_sender gives the member, the branch's time zone, the language and the open question."""
    branch.timezone = "Asia/Urumqi"
    member = make_member(
        session, branch, phone="+8613800000009", city="苏州", employer=None, language=Language.EN
    )
    session.commit()
    now = utcnow()
    raw = raw_of(session)
    asked = Question(Topic.REPORT, Step.SAME, ReportAnswers(studied=True, period="2026-11"))
    expires_at = open_question(raw, member.id, asked, now=now, ttl_hours=72)
    set_opted_out(raw, member.id, now)
    sender = find_sender(raw, "+8613800000009", now)
    assert sender is not None
    assert (sender.id, sender.name, sender.phone) == (member.id, member.name, "+8613800000009")
    assert (sender.city, sender.employer) == ("苏州", None)
    assert sender.language == "en" and sender.timezone == "Asia/Urumqi"
    assert sender.opted_out is True
    assert sender.question == asked
    assert sender.expires_at == expires_at
    assert sender.asked_at == now


def test_find_sender_without_a_question(session: Session, member: Member) -> None:
    """A member with no open question has no topic, step or expiry and empty data."""
    raw = raw_of(session)
    question = Question(Topic.REPORT, Step.STUDIED)
    open_question(raw, member.id, question, now=utcnow(), ttl_hours=72)
    forget_question(raw, member.id)
    sender = find_sender(raw, member.phone, utcnow())
    assert sender is not None and sender.id == member.id
    assert (sender.question, sender.expires_at, sender.asked_at) == (None, None, None)
    assert sender.language == "zh_CN" and sender.timezone == "Asia/Shanghai"
    assert sender.opted_out is False


def test_find_sender_for_an_unknown_phone_is_none(session: Session, member: Member) -> None:
    """A phone no member has, or one written differently from the stored E.164, finds nobody."""
    raw = raw_of(session)
    assert find_sender(raw, "+8613999999999", utcnow()) is None
    assert find_sender(raw, "13800000001", utcnow()) is None


# --- the notice a text replies to ------------------------------------------------------------


def test_notice_awaiting_reply_is_the_latest_sent(session: Session) -> None:
    """Of two notices asking for answers, the one that reached the member last is named;
    a queued one is not, and none after three days."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    now = utcnow()
    ids = []
    for minutes, text in ((30, "第一条通知,请回复"), (10, "第二条通知,请回复")):
        at = now - timedelta(minutes=minutes)
        broadcast: Broadcast = create_broadcast(
            session,
            org=township,
            author_id=None,
            text=text,
            target={},
            scheduled_at=None,
            now=at,
        )
        write_outbox_part(session, broadcast, next_part(session, broadcast, None) or 0, at)
        ids.append(broadcast.id)
    session.flush()
    raw = raw_of(session)
    assert notice_awaiting_reply(raw, member.id, now) is None  # queued, not sent yet
    for row in session.scalars(select(Message).where(Message.broadcast_id.in_(ids))):
        row.status = MessageStatus.SENT
    session.flush()
    found = notice_awaiting_reply(raw_of(session), member.id, now)
    assert found is not None and found.broadcast_id == ids[1]
    assert notice_awaiting_reply(raw_of(session), member.id, now + timedelta(days=4)) is None
