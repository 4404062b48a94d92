"""The reports grid: members by months."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.member import Member
from models.reads.common import PER_PAGE, Page, branch_clause, current_period, org_names, paginate
from models.reads.member_file import MonthCell, month_state
from models.report import Report
from models.scope import Scope


@dataclass(frozen=True)
class GridRow:
    """One member's months on the reports grid."""

    member: Member
    branch_name: str
    cells: list[MonthCell]


def reports_grid(
    session: Session,
    scope: Scope,
    periods: Sequence[str],
    *,
    branch_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
) -> Page[GridRow]:
    """Members by months: studied, reported without study, missing, not due yet, or the
    month still under way; grouped by branch."""
    running = current_period(scope, now)
    query = (
        select(Member)
        .where(branch_clause(scope, branch_id), Member.active.is_(True))
        .order_by(Member.branch_id, Member.id)
    )
    members = paginate(session, query, page, per_page)
    ids = [m.id for m in members.items]
    reports: dict[tuple[int, str], Report] = {}
    if ids:
        for report in session.scalars(
            select(Report).where(Report.member_id.in_(ids), Report.period.in_(list(periods)))
        ):
            reports[(report.member_id, report.period)] = report
    names = org_names(session, {m.branch_id for m in members.items})
    rows = [
        GridRow(
            member=m,
            branch_name=names.get(m.branch_id, ""),
            cells=[
                MonthCell(
                    p,
                    month_state(reports.get((m.id, p)), p, m.created_at, scope.timezone, running),
                    reports.get((m.id, p)),
                )
                for p in periods
            ],
        )
        for m in members.items
    ]
    return Page(rows, members.page, members.per_page, members.total)


__all__ = ["GridRow", "reports_grid"]
