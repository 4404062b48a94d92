"""The admin pages' read queries (models.reads): rates, trend, non-reporters, grid, review."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Channel,
    ContactKind,
    ContactLog,
    HelpCategory,
    LessonCategory,
    Member,
    NonReporter,
    Organization,
    Role,
    open_help_request,
    record_report,
)
from models.lesson import Lesson, LessonListen
from models.period import period_bounds, shift_period
from models.reads.common import periods_between
from models.reads.dashboard import branch_rates, reporting_trend
from models.reads.members import MemberFilter, search_members
from models.reads.nonreporters import non_reporters
from models.reads.reports_grid import reports_grid
from models.reads.review import yearly_review
from models.report import ReportTally
from models.scope import Scope, scope_for
from models.tally import tally_settled
from tests.factories import make_member, make_tree, make_user

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def _township_scope(session: Session) -> tuple[Scope, Organization, Organization]:
    township, east, west = make_tree(session)
    scope = scope_for(session, make_user(session, township, Role.TOWNSHIP))
    return scope, east, west


def _member(session: Session, branch: Organization, name: str, **extra: Any) -> Member:
    return make_member(
        session, branch, name=name, created_at=extra.pop("created_at", LONG_AGO), **extra
    )


def test_periods_shift_across_years_and_ranges_are_checked() -> None:
    """Periods are calendar months; a range is at most 24 and must run forward."""
    assert shift_period("2026-01", -1) == "2025-12"
    assert shift_period("2025-12", 13) == "2027-01"
    assert periods_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    with pytest.raises(ValueError):
        periods_between("2026-02", "2025-11")
    with pytest.raises(ValueError):
        periods_between("2020-01", "2026-01")
    start, end = period_bounds("2026-03", "Asia/Shanghai")
    assert start == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)


def test_branch_rates_count_reports_and_study_lowest_first(session: Session) -> None:
    """Each branch's members, reporters and studiers for the period; empty branches too."""
    scope, east, west = _township_scope(session)
    a = _member(session, east, "甲")
    b = _member(session, east, "乙")
    _member(session, west, "丙")
    _member(session, west, "丁", active=False)
    record_report(session, a, period="2026-03", studied=True, channel=Channel.SMS, at=NOW)
    record_report(session, b, period="2026-03", studied=False, channel=Channel.SMS, at=NOW)
    page = branch_rates(session, scope, "2026-03")
    figures = [(r.name, r.members, r.reported, r.studied) for r in page.items]
    assert figures == [("西村党支部", 1, 0, 0), ("东村党支部", 2, 2, 1)]
    assert page.items[1].rate == 1.0


def test_trend_counts_settled_months_once_and_the_running_month_live(session: Session) -> None:
    """Months ended over a week ago are read from the tallies the close job wrote, counted
    once; the running month stays live; the trend itself writes nothing."""
    scope, east, _ = _township_scope(session)
    a = _member(session, east, "甲")
    b = _member(session, east, "乙")
    record_report(session, a, period="2026-01", studied=True, channel=Channel.SMS)
    record_report(session, a, period="2026-03", studied=False, channel=Channel.SMS)
    periods = ["2026-01", "2026-02", "2026-03"]
    expected = [
        ("2026-01", 2, 1, 1),
        ("2026-02", 2, 0, 0),
        ("2026-03", 2, 1, 0),
    ]
    trend = reporting_trend(session, scope, periods, now=NOW)
    assert [(p.period, p.members, p.reported, p.studied) for p in trend] == expected
    assert session.scalar(select(func.count(ReportTally.id))) == 0
    township = session.get(Organization, scope.township_id)
    assert township is not None
    assert {"2026-01", "2026-02"} <= set(tally_settled(session, township, NOW))
    trend = reporting_trend(session, scope, periods, now=NOW)
    assert [(p.period, p.members, p.reported, p.studied) for p in trend] == expected
    # A settled month is not counted again; the running month moves with each report.
    record_report(session, b, period="2026-01", studied=True, channel=Channel.SMS)
    record_report(session, b, period="2026-03", studied=True, channel=Channel.SMS)
    again = reporting_trend(session, scope, periods, now=NOW)
    assert [p.reported for p in again] == [1, 0, 2]


def test_trend_of_a_liaison_is_counted_live(session: Session) -> None:
    """A liaison's few members are counted directly, not from branch tallies."""
    _, east, _ = make_tree(session)
    liaison = make_user(session, east, Role.LIAISON)
    mine = _member(session, east, "甲", liaison_id=liaison.id)
    _member(session, east, "乙")
    record_report(session, mine, period="2026-01", studied=True, channel=Channel.SMS)
    trend = reporting_trend(session, scope_for(session, liaison), ["2026-01"], now=NOW)
    assert (trend[0].members, trend[0].reported) == (1, 1)
    assert session.scalar(select(func.count(ReportTally.id))) == 0


def test_non_reporters_use_fixed_months_and_live_ones(session: Session) -> None:
    """Closed months come from the fixed non-reporters; months never closed from reports."""
    scope, east, west = _township_scope(session)
    a = _member(session, east, "甲")
    b = _member(session, east, "乙")
    c = _member(session, west, "丙")
    late = _member(session, west, "丁", created_at=datetime(2026, 2, 10, tzinfo=UTC))
    # January was closed: 甲 and 丙 were fixed as non-reporters (a late report changes nothing).
    session.add_all(
        [
            NonReporter(member_id=a.id, branch_id=east.id, period="2026-01"),
            NonReporter(member_id=c.id, branch_id=west.id, period="2026-01"),
        ]
    )
    record_report(session, a, period="2026-01", studied=True, channel=Channel.SMS)
    # February never closed: whoever has no report missed it (丁 registered in February).
    record_report(session, b, period="2026-02", studied=False, channel=Channel.SMS)
    record_report(session, late, period="2026-02", studied=True, channel=Channel.SMS)
    page = non_reporters(session, scope, ["2026-01", "2026-02"])
    assert [(r.member.name, r.missed) for r in page.items] == [("甲", 2), ("丙", 2)]
    assert page.total == 2
    assert page.items[0].branch_name == "东村党支部"
    # March is live too; 丁 joined before it ends, so 丁 misses it.
    page = non_reporters(session, scope, ["2026-02", "2026-03"], min_missed=2)
    assert {r.member.name for r in page.items} == {"甲", "丙"}
    page = non_reporters(session, scope, ["2026-03"], branch_id=west.id)
    assert {r.member.name for r in page.items} == {"丙", "丁"}


def test_non_reporters_page_and_count_lessons(session: Session) -> None:
    """Pages split the list with the right total; lessons heard over the range are counted."""
    scope, east, _ = _township_scope(session)
    members = [_member(session, east, f"成员{i}") for i in range(5)]
    lesson = Lesson(org_id=east.id, title="课", category=LessonCategory.POLICY)
    session.add(lesson)
    session.flush()
    session.add(
        LessonListen(
            member_id=members[0].id,
            lesson_id=lesson.id,
            seconds=100,
            completed=True,
            listened_at=datetime(2026, 2, 3, tzinfo=UTC),
        )
    )
    record_report(session, members[0], period="2026-02", studied=False, channel=Channel.SMS)
    first = non_reporters(session, scope, ["2026-01", "2026-02"], per_page=2)
    second = non_reporters(session, scope, ["2026-01", "2026-02"], per_page=2, page=3)
    assert (first.total, second.total, first.pages) == (5, 5, 3)
    assert len(first.items) == 2 and len(second.items) == 1
    row = second.items[0]
    assert (row.member.id, row.missed, row.not_studied, row.lessons_listened) == (
        members[0].id,
        1,
        1,
        1,
    )


def test_grid_marks_each_month(session: Session) -> None:
    """Studied, reported without study, missing, not due (registered in or after the month),
    or the month still under way."""
    scope, east, _ = _township_scope(session)
    a = _member(session, east, "甲", created_at=datetime(2026, 1, 15, tzinfo=UTC))
    b = _member(session, east, "乙")
    record_report(session, a, period="2026-03", studied=True, channel=Channel.SMS)
    record_report(session, b, period="2026-01", studied=False, channel=Channel.IVR)
    record_report(session, b, period="2026-04", studied=False, channel=Channel.IVR)
    periods = ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]
    in_april = datetime(2026, 4, 10, 4, 0, tzinfo=UTC)
    grid = reports_grid(session, scope, periods, now=in_april)
    states = {row.member.name: [c.state for c in row.cells] for row in grid.items}
    assert states == {
        "甲": ["before", "before", "missing", "studied", "running"],
        "乙": ["missing", "reported", "missing", "missing", "reported"],
    }


def test_the_month_a_register_is_loaded_is_not_missed(session: Session) -> None:
    """Members loaded on 20 February are due from March: February's rate counts only those
    registered before it, live and in the tallies, and the running month is marked."""
    scope, east, west = _township_scope(session)
    old = _member(session, east, "甲")
    loaded = datetime(2026, 2, 20, 3, 0, tzinfo=UTC)
    new = [_member(session, west, f"新{i}", created_at=loaded) for i in range(5)]
    record_report(session, old, period="2026-02", studied=True, channel=Channel.SMS)
    record_report(session, new[0], period="2026-03", studied=True, channel=Channel.SMS)
    periods = ["2026-01", "2026-02", "2026-03"]
    early_april = datetime(2026, 4, 3, tzinfo=UTC)  # February settled, March not yet
    township = session.get(Organization, scope.township_id)
    assert township is not None
    for tally in (False, True):  # counted live, then read from the tallies
        if tally:
            tally_settled(session, township, early_april)
        trend = reporting_trend(session, scope, periods, now=early_april)
        assert [(p.period, p.members, p.reported, p.running) for p in trend] == [
            ("2026-01", 1, 0, False),
            ("2026-02", 1, 1, False),
            ("2026-03", 6, 1, False),
        ]
    tallies = session.execute(
        select(ReportTally.period, ReportTally.branch_id, ReportTally.members).where(
            ReportTally.period.in_(periods)
        )
    ).all()
    assert sorted(tallies) == [
        ("2026-01", east.id, 1),
        ("2026-01", west.id, 0),
        ("2026-02", east.id, 1),
        ("2026-02", west.id, 0),
    ]
    trend = reporting_trend(session, scope, ["2026-03"], now=NOW)
    assert (trend[0].members, trend[0].running) == (6, True)
    rates = branch_rates(session, scope, "2026-02")
    assert {(r.name, r.members) for r in rates.items} == {("东村党支部", 1), ("西村党支部", 0)}


def test_non_reporters_count_only_months_the_member_was_due(session: Session) -> None:
    """Registered five months ago: the months before (and the month itself) are not missed,
    the page knows how many were due, and the running month is not missed yet."""
    scope, east, _ = _township_scope(session)
    _member(session, east, "晚", created_at=datetime(2025, 10, 15, tzinfo=UTC))
    early = _member(session, east, "早")
    # Registered on 1 November, Shanghai time: November counts.
    _member(session, east, "一号", created_at=datetime(2025, 11, 1, 2, 0, tzinfo=UTC))
    record_report(session, early, period="2025-12", studied=True, channel=Channel.SMS)
    periods = periods_between("2025-04", "2026-03")
    now = datetime(2026, 3, 10, tzinfo=UTC)
    page = non_reporters(session, scope, periods, now=now)
    rows = {r.member.name: (r.missed, r.due) for r in page.items}
    assert rows == {"晚": (4, 4), "早": (10, 11), "一号": (4, 4)}


def test_member_search_filters(session: Session) -> None:
    """Search by name or phone digits; filter by city and by reported or not."""
    scope, east, west = _township_scope(session)
    a = _member(session, east, "王秀英", city="深圳", phone="+8613912345678")
    _member(session, west, "李建国", city="广州")
    record_report(session, a, period="2026-03", studied=True, channel=Channel.SMS)

    def names(**kwargs: object) -> list[str]:
        page = search_members(session, scope, MemberFilter(period="2026-03", **kwargs))  # type: ignore[arg-type]  # test keywords
        return [row.member.name for row in page.items]

    assert names(q="秀英") == ["王秀英"]
    assert names(q="1234 5678") == ["王秀英"]
    assert names(city="广州") == ["李建国"]
    assert names(reported=False) == ["李建国"]
    assert names(reported=True) == ["王秀英"]
    assert names(q="%") == []


def test_yearly_review_counts_the_year(session: Session) -> None:
    """Reports, study, help requests and contacts within the calendar year only."""
    scope, east, _ = _township_scope(session)
    a = _member(session, east, "甲")
    for month in ("2025-03", "2025-04", "2026-01"):
        record_report(session, a, period=month, studied=month != "2025-04", channel=Channel.SMS)
    open_help_request(
        session,
        a,
        category=HelpCategory.JOBS,
        text="找工作",
        channel=Channel.SMS,
        at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    session.add_all(
        [
            ContactLog(
                member_id=a.id,
                kind=ContactKind.MONTHLY_CONTACT,
                period="2025-05",
                contact_date=date(2025, 5, 3),
            ),
            ContactLog(
                member_id=a.id,
                kind=ContactKind.HOME_VISIT,
                period="2025-06",
                contact_date=date(2025, 6, 3),
            ),
            ContactLog(
                member_id=a.id,
                kind=ContactKind.HOME_VISIT,
                period="2026-01",
                contact_date=date(2026, 1, 3),
            ),
        ]
    )
    session.flush()
    row = yearly_review(session, scope, 2025).items[0]
    assert (row.reports, row.studied, row.help_requests, row.contacts, row.home_visits) == (
        2,
        1,
        1,
        1,
        1,
    )


def test_yearly_review_counts_reports_against_the_months_due(session: Session) -> None:
    """Registered in mid-August 2025: four months of 2025 were due, not twelve; a member
    registered long ago was due all twelve."""
    scope, east, _ = _township_scope(session)
    late = _member(session, east, "晚", created_at=datetime(2025, 8, 15, tzinfo=UTC))
    _member(session, east, "早")
    record_report(session, late, period="2025-09", studied=True, channel=Channel.SMS)
    rows = {r.member.name: (r.reports, r.due) for r in yearly_review(session, scope, 2025).items}
    assert rows == {"晚": (1, 4), "早": (0, 12)}


def test_the_lessons_page_sums_a_members_parts(session: Session) -> None:
    """A lesson heard in two parts (120 s, then 180 s) by one member and whole (300 s) by
    another: 300 seconds per listener, three listens, two of them to the end."""
    from models.reads.lessons import lessons

    township, branch, _ = make_tree(session)
    user = make_user(session, township, Role.TOWNSHIP)
    first, second = make_member(session, branch), make_member(session, branch)
    lesson = Lesson(org_id=township.id, title="课", category="policy", duration=300)
    session.add(lesson)
    session.flush()
    for member, seconds, completed in (
        (first, 120, False),
        (first, 180, True),
        (second, 300, True),
    ):
        session.add(
            LessonListen(
                member_id=member.id, lesson_id=lesson.id, seconds=seconds, completed=completed
            )
        )
    session.commit()
    [row] = lessons(session, scope_for(session, user)).items
    assert (row.listens, row.completed, row.listeners, row.average_seconds) == (3, 2, 2, 300)
