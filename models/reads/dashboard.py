"""The dashboard: this period's rate per branch, the 12-month trend, open help and unmatched
texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.help import HelpRequest, HelpStatus
from models.member import Member
from models.message import Message
from models.org import Organization
from models.period import shift_period
from models.reads.common import PER_PAGE, Page, current_period, page_number
from models.reads.inbox import unmatched_where
from models.scope import Scope
from models.tally import Figures, branch_figures, is_settled, tallied_totals
from models.user import Role


@dataclass(frozen=True)
class BranchRate:
    """A branch's reporting figures for one period."""

    branch_id: int
    name: str
    members: int
    reported: int
    studied: int

    @property
    def rate(self) -> float:
        """Share of the branch's members who reported (0 with no members)."""
        return self.reported / self.members if self.members else 0.0


@dataclass(frozen=True)
class TrendPoint:
    """The scope's reporting figures for one period of the trend chart."""

    period: str
    members: int
    reported: int
    studied: int
    running: bool = False  # the period still under way: its figures are not final

    @property
    def rate(self) -> float:
        """Share of members who reported (0 with no members)."""
        return self.reported / self.members if self.members else 0.0

    @property
    def studied_rate(self) -> float:
        """Share of members who reported having studied."""
        return self.studied / self.members if self.members else 0.0


def branch_rates(
    session: Session,
    scope: Scope,
    period: str,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    figures: dict[int, Figures] | None = None,
) -> Page[BranchRate]:
    """Each branch's reporting rate for a period, lowest rate first (those needing a call)."""
    if figures is None:
        figures = branch_figures(session, scope.member_clause(), period, scope.timezone)
    figures = dict(figures)
    names = dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(list(figures)))
        ).all()
    )
    if scope.role in (Role.TOWNSHIP, Role.BRANCH):
        # Branches with no members yet still belong on the table.
        for branch_id, name in session.execute(
            select(Organization.id, Organization.name).where(
                scope.within(Organization.id, scope.branch_ids)
            )
        ).all():
            names.setdefault(branch_id, name)
            figures.setdefault(branch_id, (0, 0, 0))
    rates = sorted(
        (BranchRate(b, names.get(b, str(b)), *figures[b]) for b in figures),
        key=lambda r: (r.rate, r.name),
    )
    page = page_number(page)
    start = (page - 1) * per_page
    return Page(rates[start : start + per_page], page, per_page, len(rates))


def reporting_trend(
    session: Session,
    scope: Scope,
    periods: Sequence[str],
    *,
    now: datetime | None = None,
    live: dict[str, dict[int, Figures]] | None = None,
) -> list[TrendPoint]:
    """The scope's reporting figures for each period, oldest first. Reads only.

    Settled periods come from the per-branch tallies the period-close job wrote
    (`models.tally.tally_settled`); the running period, the one just ended and a settled
    one not tallied yet are counted live (or taken from `live`, per-branch figures the
    caller already counted), and the count is not stored.
    """
    now = now or utcnow()
    live = live or {}
    totals: dict[str, Figures] = {}
    if scope.role in (Role.TOWNSHIP, Role.BRANCH):
        settled = [p for p in periods if is_settled(p, scope.timezone, now)]
        totals.update(tallied_totals(session, scope.branch_ids, settled))
    for period in periods:
        if period in totals:
            continue
        figures = live.get(period) or branch_figures(
            session, scope.member_clause(), period, scope.timezone
        )
        totals[period] = (
            sum(f[0] for f in figures.values()),
            sum(f[1] for f in figures.values()),
            sum(f[2] for f in figures.values()),
        )
    running = current_period(scope, now)
    return [TrendPoint(p, *totals[p], running=p == running) for p in periods]


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows."""

    period: str
    registered: int  # active members in the scope, due this month or not yet
    rates: Page[BranchRate]
    totals: TrendPoint
    trend: list[TrendPoint]
    open_help: list[HelpRequest]
    open_help_count: int
    unmatched: list[Message]
    unmatched_count: int


def dashboard(
    session: Session, scope: Scope, *, page: int = 1, now: datetime | None = None
) -> Dashboard:
    """This period's rate per branch, the 12-month trend, open help and unmatched messages."""
    now = now or utcnow()
    period = current_period(scope, now)
    figures = branch_figures(session, scope.member_clause(), period, scope.timezone)
    rates = branch_rates(session, scope, period, page=page, figures=figures)
    periods = [shift_period(period, -i) for i in range(11, -1, -1)]
    trend = reporting_trend(session, scope, periods, now=now, live={period: figures})
    help_query = (
        select(HelpRequest)
        .join(Member, Member.id == HelpRequest.member_id)
        .where(scope.member_clause(), HelpRequest.status != HelpStatus.RESOLVED)
    )
    open_help = list(session.scalars(help_query.order_by(HelpRequest.created_at.desc()).limit(5)))
    open_help_count = session.scalar(select(func.count()).select_from(help_query.subquery())) or 0
    unmatched: list[Message] = []
    unmatched_count = 0
    if scope.sees_strangers:
        unmatched_query = select(Message).where(*unmatched_where())
        unmatched = list(
            session.scalars(unmatched_query.order_by(Message.created_at.desc()).limit(5))
        )
        unmatched_count = (
            session.scalar(select(func.count()).select_from(unmatched_query.subquery())) or 0
        )
    registered = (
        session.scalar(
            select(func.count(Member.id)).where(scope.member_clause(), Member.active.is_(True))
        )
        or 0
    )
    return Dashboard(
        period=period,
        registered=registered,
        rates=rates,
        totals=trend[-1],
        trend=trend,
        open_help=open_help,
        open_help_count=open_help_count,
        unmatched=unmatched,
        unmatched_count=unmatched_count,
    )


__all__ = ["BranchRate", "Dashboard", "TrendPoint", "branch_rates", "dashboard", "reporting_trend"]
