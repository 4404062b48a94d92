"""Monthly reports: one per member and period, a later report replacing it with every revision kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    ChangeField,
    Channel,
    MemberChange,
    Report,
    ReportRevision,
    period_of,
    record_report,
)
from tests.factories import make_member

FIRST = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
SECOND = datetime(2025, 3, 20, 13, 0, tzinfo=UTC)
RECEIPT_ALPHABET = set("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")


def revisions(session: Session, report_id: int) -> list[tuple[int, dict[str, object], Channel]]:
    """A report's revisions as stored, oldest first."""
    session.expire_all()
    rows = session.scalars(
        select(ReportRevision)
        .where(ReportRevision.report_id == report_id)
        .order_by(ReportRevision.revision)
    )
    return [(r.revision, r.data, r.channel) for r in rows]


def test_first_report_of_a_period_is_revision_one(session: Session) -> None:
    """A first report gets a short receipt and its revision 1 is kept."""
    member = make_member(session, city="广州", employer="电子厂")

    report = record_report(
        session, member, period="2025-03", studied=True, channel=Channel.SMS, at=FIRST
    )
    session.commit()

    session.refresh(report)
    assert (report.member_id, report.period, report.revision) == (member.id, "2025-03", 1)
    assert (report.studied, report.city, report.employer) == (True, "广州", "电子厂")
    assert report.received_at == FIRST
    assert len(report.receipt) == 6
    assert set(report.receipt) <= RECEIPT_ALPHABET
    assert revisions(session, report.id) == [
        (
            1,
            {
                "studied": True,
                "same_city": None,
                "same_employer": None,
                "city": "广州",
                "employer": "电子厂",
            },
            Channel.SMS,
        )
    ]


def test_second_report_replaces_the_first_and_both_revisions_are_kept(session: Session) -> None:
    """Reporting again in a period updates the one report; the first version stays readable."""
    member = make_member(session, city="广州", employer="电子厂")
    first = record_report(
        session, member, period="2025-03", studied=True, channel=Channel.SMS, at=FIRST
    )
    session.commit()
    receipt = first.receipt

    second = record_report(
        session, member, period="2025-03", studied=False, channel=Channel.IVR, at=SECOND
    )
    session.commit()

    assert second.id == first.id
    count = session.scalar(select(func.count()).select_from(Report))
    assert count == 1
    session.refresh(second)
    assert (second.revision, second.studied, second.channel) == (2, False, Channel.IVR)
    assert (second.received_at, second.receipt) == (SECOND, receipt)
    stored = revisions(session, second.id)
    assert [(number, data["studied"], channel) for number, data, channel in stored] == [
        (1, True, Channel.SMS),
        (2, False, Channel.IVR),
    ]


def test_reports_of_other_periods_and_members_are_separate(session: Session) -> None:
    """Each member and month has its own report."""
    one, two = make_member(session), make_member(session)

    a = record_report(session, one, period="2025-03", studied=True, channel=Channel.SMS)
    b = record_report(session, one, period="2025-04", studied=True, channel=Channel.SMS)
    c = record_report(session, two, period="2025-03", studied=True, channel=Channel.SMS)
    session.commit()

    assert len({a.id, b.id, c.id}) == 3
    assert {a.revision, b.revision, c.revision} == {1}


def test_new_city_and_employer_in_a_report_move_the_member(session: Session) -> None:
    """A report naming a new city and employer updates the member with history, source the channel."""
    member = make_member(session, city="广州", employer="电子厂")

    report = record_report(
        session,
        member,
        period="2025-03",
        studied=False,
        channel=Channel.SMS,
        city="深圳",
        employer="富士康",
        at=FIRST,
    )
    session.commit()

    session.refresh(report)
    session.refresh(member)
    assert (report.same_city, report.same_employer) == (False, False)
    assert (report.city, report.employer) == ("深圳", "富士康")
    assert (member.city, member.employer) == ("深圳", "富士康")
    changes = session.execute(
        select(MemberChange.field, MemberChange.new_value, MemberChange.source).order_by(
            MemberChange.id
        )
    ).all()
    assert [tuple(c) for c in changes] == [
        (ChangeField.CITY, "深圳", "sms"),
        (ChangeField.EMPLOYER, "富士康", "sms"),
    ]


def test_report_of_the_same_city_changes_nothing_on_the_member(session: Session) -> None:
    """Naming the city one is already in marks it the same and records no move."""
    member = make_member(session, city="广州", employer="电子厂")

    report = record_report(
        session, member, period="2025-03", studied=True, channel=Channel.IVR, city="广州"
    )
    session.commit()

    assert (report.same_city, report.same_employer) == (True, None)
    assert session.scalar(select(func.count()).select_from(MemberChange)) == 0


@pytest.mark.parametrize(
    ("at", "timezone", "period"),
    [
        (datetime(2025, 1, 31, 16, 30, tzinfo=UTC), "Asia/Shanghai", "2025-02"),
        (datetime(2025, 1, 31, 15, 59, tzinfo=UTC), "Asia/Shanghai", "2025-01"),
        (datetime(2025, 1, 31, 16, 30, tzinfo=UTC), "Asia/Urumqi", "2025-01"),
        (datetime(2024, 12, 31, 16, 0, tzinfo=UTC), "Asia/Shanghai", "2025-01"),
    ],
)
def test_period_is_the_month_in_the_townships_time_zone(
    at: datetime, timezone: str, period: str
) -> None:
    """Half past midnight on 1 February in Beijing is February, though it is still January in UTC."""
    assert period_of(at, timezone) == period
