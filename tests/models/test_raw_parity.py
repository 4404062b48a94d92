"""Parity: every rule with an ORM entry and a raw-SQL entry leaves the same rows either way.

The ORM entries (admin, voice flows, workers, demo) delegate to the raw statements the SMS
webhook runs; these tests hold them to it, on SQLite and PostgreSQL: each pair is run for two
members alike, and the rows each left are compared column by column (ids and keys aside).
The shape is the opt-out parity test's (tests/models/test_member.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from models import (
    ChangeSource,
    Channel,
    ContactLog,
    Conversation,
    Direction,
    HelpCategory,
    HelpRequest,
    Member,
    MemberChange,
    Message,
    MessageStatus,
    OrgKind,
    Report,
    ReportRevision,
    change_status,
    open_conversation,
    open_help_request,
    record_report,
)
from models.help import save_help_request
from models.inbound import store_inbound
from models.member import move_member
from models.message import open_question
from models.question import Question, ReportAnswers, Step, Topic
from models.report import save_report
from models.sql import Raw
from tests.factories import make_member, make_org, make_tree

AT = datetime(2025, 3, 14, 12, 30, 45, 123456, tzinfo=UTC)
# Keys that differ between two members by construction, or are random by design.
OWN = {"id", "member_id", "report_id", "help_request_id", "receipt", "phone", "name"}


def raw_of(session: Session) -> Raw:
    """The raw side of the session's connection, in its current transaction."""
    session.flush()
    return Raw.of(session.connection())


def rows(session: Session, model: type[Any], member_id: int, *, via: Any = None) -> list[dict]:
    """The member's rows of a table as dicts without their own keys, oldest first."""
    session.expire_all()
    column = via if via is not None else model.member_id
    found = session.scalars(select(model).where(column == member_id).order_by(model.id)).all()
    return [
        {
            attr.key: getattr(row, attr.key)
            for attr in inspect(model).column_attrs
            if attr.key not in OWN
        }
        for row in found
    ]


def member_row(session: Session, member_id: int) -> dict:
    """The member's own columns that a rule may change."""
    session.expire_all()
    member = session.get(Member, member_id)
    assert member is not None
    return {
        "city": member.city,
        "employer": member.employer,
        "province": member.province,
        "host_org_id": member.host_org_id,
        "opted_out_at": member.opted_out_at,
    }


@pytest.fixture
def pair(session: Session) -> tuple[Member, Member]:
    """Two members alike, in Guangzhou at one factory, attached to a host in Guangzhou."""
    township, branch, _ = make_tree(session)
    host = make_org(session, "广州白云区流动党员党支部", OrgKind.HOST, township, city="广州")
    made = tuple(
        make_member(session, branch, city="广州", employer="电子厂", host_org_id=host.id)
        for _ in range(2)
    )
    session.commit()
    return made  # type: ignore[return-value]


def both(
    session: Session,
    pair: tuple[Member, Member],
    by_orm: Callable[[Member], object],
    by_raw: Callable[[Member], object],
) -> None:
    """Run the ORM entry for the first member and the raw one for the second; commit."""
    by_orm(pair[0])
    by_raw(pair[1])
    session.commit()


def test_a_report_by_orm_and_by_raw_sql_stores_the_same(
    session: Session, pair: tuple[Member, Member]
) -> None:
    """record_report (voice, admin) and save_report (SMS): the report, its revisions, the move
    it carries, its history and the branch's task, twice in one period."""
    for studied, city in ((True, "深圳"), (False, None)):

        def orm(m: Member, studied: bool | None = studied, city: str | None = city) -> None:
            record_report(
                session, m, period="2025-03", studied=studied, channel=Channel.SMS, city=city, at=AT
            )

        def raw(m: Member, studied: bool | None = studied, city: str | None = city) -> None:
            session.refresh(m)  # `current` is the member as read in this transaction
            save_report(
                raw_of(session),
                m.id,
                current=(m.city, m.employer),
                period="2025-03",
                studied=studied,
                channel=Channel.SMS,
                city=city,
                at=AT,
            )

        both(session, pair, orm, raw)
    first, second = (m.id for m in pair)
    for model in (Report, MemberChange, ContactLog):
        assert rows(session, model, first) == rows(session, model, second) != []
    revisions = [
        rows(session, ReportRevision, member_id, via=ReportRevision.report_id)
        for member_id in (
            session.scalar(select(Report.id).where(Report.member_id == m.id)) for m in pair
        )
    ]
    assert revisions[0] == revisions[1] and len(revisions[0]) == 2
    assert member_row(session, first) == member_row(session, second)


def test_a_move_by_orm_and_by_raw_sql_stores_the_same(
    session: Session, pair: tuple[Member, Member]
) -> None:
    """change_status (admin, import) and move_member (SMS `DT`): the member's place, the
    history, and the task for the branch when the host is in another city."""

    def orm(m: Member) -> None:
        change_status(session, m, city="深圳", employer="富士康", source=ChangeSource.ADMIN, at=AT)

    def raw(m: Member) -> None:
        move_member(
            raw_of(session),
            m.id,
            current=(m.city, m.employer),
            city="深圳",
            employer="富士康",
            source=ChangeSource.ADMIN,
            at=AT,
        )

    both(session, pair, orm, raw)
    first, second = (m.id for m in pair)
    assert rows(session, MemberChange, first) == rows(session, MemberChange, second)
    assert len(rows(session, MemberChange, first)) == 3  # city, employer, host let go
    assert rows(session, ContactLog, first) == rows(session, ContactLog, second) != []
    assert member_row(session, first) == member_row(session, second)
    assert member_row(session, first)["province"] == "广东"


def test_a_help_request_by_orm_and_by_raw_sql_stores_the_same(
    session: Session, pair: tuple[Member, Member]
) -> None:
    """open_help_request (voice, admin) and save_help_request (SMS `QZ`)."""

    def orm(m: Member) -> None:
        open_help_request(
            session, m, category=HelpCategory.WAGES, text="三个月", channel=Channel.SMS, at=AT
        )

    def raw(m: Member) -> None:
        save_help_request(
            raw_of(session),
            m.id,
            category=HelpCategory.WAGES,
            text="三个月",
            channel=Channel.SMS,
            at=AT,
        )

    both(session, pair, orm, raw)
    first, second = (m.id for m in pair)
    assert rows(session, HelpRequest, first) == rows(session, HelpRequest, second) != []


def test_a_question_by_orm_and_by_raw_sql_stores_the_same(
    session: Session, pair: tuple[Member, Member]
) -> None:
    """open_conversation (the reminder jobs) and open_question (SMS), asked twice."""
    for step, answers in (
        (Step.STUDIED, ReportAnswers(period="2026-11")),
        (Step.SAME, ReportAnswers(studied=True, period="2026-11")),
    ):
        question = Question(Topic.REPORT, step, answers)

        def orm(m: Member, question: Question = question) -> None:
            open_conversation(session, m.id, question, now=AT, ttl_hours=72)

        def raw(m: Member, question: Question = question) -> None:
            open_question(raw_of(session), m.id, question, now=AT, ttl_hours=72)

        both(session, pair, orm, raw)
    first, second = (m.id for m in pair)
    assert rows(session, Conversation, first) == rows(session, Conversation, second) != []


def test_an_inbound_text_stored_by_raw_sql_has_the_orm_defaults(
    session: Session, pair: tuple[Member, Member]
) -> None:
    """store_inbound (the webhook's INSERT, its defaults taken from the table) leaves the row
    an ORM Message with the same values leaves: segments, attempts, essential, the nulls."""

    def orm(m: Member) -> None:
        session.add(
            Message(
                direction=Direction.IN,
                member_id=m.id,
                phone="+8613800000000",
                body="HB 1",
                provider_sid=f"SM-orm-{m.id}",
                status=MessageStatus.RECEIVED,
                command="report",
                reply_body="收到",
                handled=True,
                created_at=AT,
            )
        )

    def raw(m: Member) -> None:
        store_inbound(
            raw_of(session),
            sid=f"SM-raw-{m.id}",
            phone="+8613800000000",
            body="HB 1",
            member_id=m.id,
            broadcast_id=None,
            command="report",
            handled=True,
            reply_body="收到",
            at=AT,
        )

    both(session, pair, orm, raw)
    first, second = (m.id for m in pair)
    by_orm, by_raw = rows(session, Message, first), rows(session, Message, second)
    for row in by_orm + by_raw:
        row.pop("provider_sid")
    assert by_orm == by_raw != []
    assert (by_raw[0]["segments"], by_raw[0]["attempts"], by_raw[0]["essential"]) == (1, 0, False)
