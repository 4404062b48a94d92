"""The inspection (考核检查): per branch and month, did the branch do what the programme asks?

Four figures a branch: the reporting rate; the non-reporters' liaison tasks done within the
escalation (before the month ended); the help requests opened that month kept within both
deadlines; and the notices it sent, how many were approved up the chain, and whom they reached
(text delivered or call answered). A branch falls short when its rate is under
RATE_TARGET, or any task or help request was late; those come first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.broadcast import Broadcast, BroadcastStatus
from models.contact import ContactKind, ContactLog
from models.fallback import notice_reach
from models.help import HelpRequest
from models.member import Member
from models.org import Organization
from models.period import period_bounds
from models.scope import Scope
from models.tally import branch_figures

RATE_TARGET = 0.8  # the share of due members who report, below which a branch falls short
SHORTFALLS = ("rate", "tasks", "help")


def share(part: int, whole: int) -> float | None:
    """part / whole, None when there is nothing to share."""
    return part / whole if whole else None


@dataclass(frozen=True)
class BranchInspection:
    """One branch's figures for one month."""

    branch_id: int
    name: str
    due: int = 0
    reported: int = 0
    tasks: int = 0
    tasks_in_time: int = 0
    help: int = 0
    help_in_time: int = 0
    notices: int = 0
    approved: int = 0
    recipients: int = 0
    reached: int = 0
    shortfalls: tuple[str, ...] = field(default=())

    @property
    def rate(self) -> float | None:
        """Share of due members who reported."""
        return share(self.reported, self.due)

    @property
    def reach(self) -> float | None:
        """Share of the notices' recipients reached by text or call."""
        return share(self.reached, self.recipients)


def _shortfalls(row: BranchInspection) -> tuple[str, ...]:
    found = []
    if row.rate is not None and row.rate < RATE_TARGET:
        found.append("rate")
    if row.tasks_in_time < row.tasks:
        found.append("tasks")
    if row.help_in_time < row.help:
        found.append("help")
    return tuple(found)


def inspection(session: Session, scope: Scope, period: str) -> list[BranchInspection]:
    """Every branch of the scope for a month, those falling short first (most shortfalls,
    then the lowest rate), then by name."""
    zone = ZoneInfo(scope.timezone)
    start, end = period_bounds(period, zone)
    names = dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(scope.branch_ids))
        ).all()
    )
    values: dict[int, dict[str, int]] = {b: {} for b in names}
    for branch_id, (due, reported, _studied) in branch_figures(
        session, scope.member_clause(), period, scope.timezone
    ).items():
        if branch_id in values:
            values[branch_id].update(due=due, reported=reported)
    done_in_time = (ContactLog.done.is_(True)) & (ContactLog.done_at < end)
    for branch_id, total, in_time in session.execute(
        select(
            Member.branch_id,
            func.count(ContactLog.id),
            func.count(ContactLog.id).filter(done_in_time),
        )
        .join(Member, Member.id == ContactLog.member_id)
        .where(
            scope.member_clause(),
            ContactLog.kind == ContactKind.LIAISON_TASK,
            ContactLog.period == period,
        )
        .group_by(Member.branch_id)
    ):
        if branch_id in values:
            values[branch_id].update(tasks=total, tasks_in_time=in_time)
    kept = HelpRequest.contact_overdue_at.is_(None) & HelpRequest.escalated_at.is_(None)
    for branch_id, total, in_time in session.execute(
        select(
            Member.branch_id, func.count(HelpRequest.id), func.count(HelpRequest.id).filter(kept)
        )
        .join(Member, Member.id == HelpRequest.member_id)
        .where(
            scope.member_clause(),
            HelpRequest.created_at >= start,
            HelpRequest.created_at < end,
        )
        .group_by(Member.branch_id)
    ):
        if branch_id in values:
            values[branch_id].update(help=total, help_in_time=in_time)
    notices = session.execute(
        select(Broadcast.id, Broadcast.org_id, Broadcast.status, Broadcast.decided_by_id).where(
            Broadcast.org_id.in_(list(names)),
            Broadcast.created_at >= start,
            Broadcast.created_at < end,
        )
    ).all()
    reach = notice_reach(session, [n.id for n in notices])
    written = dict(
        session.execute(
            select(Broadcast.id, Broadcast.recipients).where(
                Broadcast.id.in_([n.id for n in notices])
            )
        ).all()
    )
    for notice_id, org_id, status, decided_by in notices:
        entry = values[org_id]
        entry["notices"] = entry.get("notices", 0) + 1
        if decided_by is not None and status is not BroadcastStatus.RETURNED:
            entry["approved"] = entry.get("approved", 0) + 1
        if status not in (BroadcastStatus.PENDING, BroadcastStatus.RETURNED):
            got = reach[notice_id]
            entry["recipients"] = entry.get("recipients", 0) + int(written.get(notice_id) or 0)
            entry["reached"] = entry.get("reached", 0) + got.delivered + got.answered
    rows = []
    for branch_id, name in names.items():
        row = BranchInspection(branch_id, name, **values[branch_id])  # type: ignore[arg-type]  # only the int fields are in values
        rows.append(replace(row, shortfalls=_shortfalls(row)))
    rows.sort(key=lambda r: (-len(r.shortfalls), r.rate if r.rate is not None else 1.0, r.name))
    return rows


__all__ = ["RATE_TARGET", "SHORTFALLS", "BranchInspection", "inspection", "share"]
