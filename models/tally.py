"""Reporting figures per branch and period: how many members were due, reported and studied.

The figures are counted one way (`branch_figures`, over the live tables). A period's figures
settle a week after it ends; from then on the period-close job keeps them in `report_tallies`
(`tally_settled`), so the trend chart reads a few rows a month instead of every report again.
Pages only read tallies: a settled period without one is counted live and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.cycle import CycleError, due_in_period, rules_for
from models.member import Member
from models.org import Organization, OrgKind, subtree_ids
from models.period import period_bounds, period_of, shift_period
from models.report import Report, ReportTally
from models.scope import ids_in

# A period's figures settle a week after it ends: a reply to a reminder may still arrive
# for it (SMS questions stay open 72 hours), after that late reports are rare.
SETTLE_DAYS = 7
# How far back the close job looks for settled periods without a tally: any page's range
# (two years at most) then reads tallies only.
TALLY_MONTHS = 24

# Members due in a period, members who reported, members who reported having studied.
Figures = tuple[int, int, int]


def is_settled(period: str, timezone: str, now: datetime) -> bool:
    """Whether a period ended long enough ago that its figures no longer move."""
    return now >= period_bounds(period, timezone)[1] + timedelta(days=SETTLE_DAYS)


def studied_sum() -> ColumnElement[int]:
    """How many of the reports counted said the member studied (0 with none)."""
    return func.coalesce(func.sum(case((Report.studied.is_(True), 1), else_=0)), 0)


def branch_figures(
    session: Session, clause: ColumnElement[bool], period: str, timezone: str
) -> dict[int, Figures]:
    """Members, reporters and studiers per branch for a period, from the live tables.

    Only members due in the period count (`models.cycle.due_in_period`): a month before a
    member was registered, or the month of registration after its first day, is no missed
    month.
    """
    start, _ = period_bounds(period, timezone)
    rows = session.execute(
        select(
            Member.branch_id,
            func.count(Member.id),
            func.count(Report.id),
            studied_sum(),
        )
        .select_from(Member)
        .outerjoin(Report, and_(Report.member_id == Member.id, Report.period == period))
        .where(clause, Member.active.is_(True), due_in_period(start))
        .group_by(Member.branch_id)
    ).all()
    return {branch: (members, reported, studied) for branch, members, reported, studied in rows}


def tallied_totals(
    session: Session, branch_ids: Sequence[int], periods: Sequence[str]
) -> dict[str, Figures]:
    """The summed tallies of these branches for each of the periods that has one."""
    if not branch_ids or not periods:
        return {}
    rows = session.execute(
        select(
            ReportTally.period,
            func.sum(ReportTally.members),
            func.sum(ReportTally.reported),
            func.sum(ReportTally.studied),
        )
        .where(ReportTally.period.in_(list(periods)), ids_in(ReportTally.branch_id, branch_ids))
        .group_by(ReportTally.period)
    ).all()
    return {p: (int(m), int(r), int(s)) for p, m, r, s in rows}


def _branches(session: Session, township: Organization) -> list[int]:
    return list(
        session.scalars(
            select(Organization.id).where(
                Organization.id.in_(subtree_ids(session, township.id)),
                Organization.kind == OrgKind.BRANCH,
            )
        )
    )


def tally_period(session: Session, township: Organization, period: str, now: datetime) -> int:
    """Count a settled period's figures for every branch of a township into report_tallies
    (a branch with nobody due gets a row of zeros); returns the rows written.

    Counting again replaces the township's rows. Two counts racing each other are harmless:
    the one that writes second keeps the first one's rows.
    """
    zone = str(rules_for(township).timezone)
    try:
        settled = is_settled(period, zone, now)
    except ValueError:
        raise CycleError(
            f"月份格式应为YYYY-MM:{period}", f"Not a period (YYYY-MM): {period}"
        ) from None
    if not settled:
        raise CycleError(f"{period}的数字还没有确定", f"The period {period} has not settled yet")
    branches = _branches(session, township)
    if not branches:
        return 0
    figures = branch_figures(session, ids_in(Member.branch_id, branches), period, zone)
    try:
        with session.begin_nested():
            session.execute(
                delete(ReportTally).where(
                    ReportTally.period == period, ids_in(ReportTally.branch_id, branches)
                )
            )
            session.add_all(
                ReportTally(
                    period=period,
                    branch_id=branch,
                    members=members,
                    reported=reported,
                    studied=studied,
                    computed_at=now,
                )
                for branch in branches
                for members, reported, studied in [figures.get(branch, (0, 0, 0))]
            )
            session.flush()
    except IntegrityError:
        return 0
    return len(branches)


def untallied_periods(session: Session, township: Organization, now: datetime) -> list[str]:
    """The settled periods of the last TALLY_MONTHS with no tally for the township, oldest
    first."""
    zone = str(rules_for(township).timezone)
    running = period_of(now, zone)
    periods = [shift_period(running, -i) for i in range(TALLY_MONTHS, 0, -1)]
    settled = [p for p in periods if is_settled(p, zone, now)]
    branches = _branches(session, township)
    if not settled or not branches:
        return []
    done = set(
        session.scalars(
            select(ReportTally.period)
            .where(ReportTally.period.in_(settled), ids_in(ReportTally.branch_id, branches))
            .distinct()
        )
    )
    return [p for p in settled if p not in done]


def tally_settled(session: Session, township: Organization, now: datetime) -> list[str]:
    """Tally every settled period of the last TALLY_MONTHS that has no tally yet (the period
    that just settled, and any the job missed); returns the periods tallied."""
    periods = untallied_periods(session, township, now)
    for period in periods:
        tally_period(session, township, period, now)
    return periods


__all__ = [
    "SETTLE_DAYS",
    "TALLY_MONTHS",
    "Figures",
    "branch_figures",
    "is_settled",
    "studied_sum",
    "tallied_totals",
    "tally_period",
    "tally_settled",
    "untallied_periods",
]
