"""A member's file: details, history, 24 months of reports, messages, calls and contact."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.call import Call, Recording
from models.contact import ContactKind, ContactLog
from models.cycle import is_due
from models.help import HelpRequest
from models.makeup import MakeupFlag
from models.member import ChangeField, Member, MemberChange
from models.message import Message
from models.org import Organization
from models.period import Period, period_bounds, shift_period
from models.reads.common import MAX_PERIODS, T, current_period, org_names
from models.report import Report
from models.scope import Scope
from models.user import Role, User


@dataclass(frozen=True)
class MonthCell:
    """One month of a member's reporting record."""

    period: str
    state: str  # studied, reported, missing, running (month under way), before (not due)
    report: Report | None = None

    @property
    def month(self) -> str:
        """The month alone (03): the row of cells shows the year once."""
        return Period.parse(self.period).short()


@dataclass
class MemberFile:
    """Everything on a member's registration and tracking card."""

    member: Member
    branch: Organization | None
    host_org: Organization | None
    liaison: User | None
    changes: list[MemberChange]
    months: list[MonthCell]
    messages: list[Message]
    calls: list[Call]
    recordings: list[Recording]
    contacts: list[ContactLog]
    feedback: list[ContactLog]
    help_requests: list[HelpRequest]
    flags: list[MakeupFlag]
    authors: dict[int, str] = field(default_factory=dict)
    org_names: dict[str, str] = field(default_factory=dict)  # host org ids in the history


def month_state(
    report: Report | None, period: str, created: datetime, timezone: str, running: str
) -> str:
    """A month of a member's record: reported (and studied or not), not due (registered after
    its first day), still under way, or missed."""
    if report is not None:
        return "studied" if report.studied else "reported"
    if not is_due(created, period_bounds(period, timezone)[0]):
        return "before"
    if period == running:
        return "running"
    return "missing"


def _member_rows(
    session: Session, model: type[T], member: Member, *order: Any, limit: int | None = None
) -> list[T]:
    """The member's rows of a table in the given order, at most `limit` of them."""
    table: Any = model  # every table passed here has a member_id column
    query = select(model).where(table.member_id == member.id).order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def member_file(
    session: Session, scope: Scope, member: Member, *, now: datetime | None = None
) -> MemberFile:
    """A member's file: details, history, 24 months of reports, messages, calls and contact."""
    now = now or utcnow()
    last = current_period(scope, now)
    periods = [shift_period(last, -i) for i in range(MAX_PERIODS - 1, -1, -1)]
    reports = {
        r.period: r
        for r in session.scalars(
            select(Report).where(Report.member_id == member.id, Report.period.in_(periods))
        )
    }
    months = [
        MonthCell(
            p,
            month_state(reports.get(p), p, member.created_at, scope.timezone, last),
            reports.get(p),
        )
        for p in reversed(periods)
    ]
    contacts = _member_rows(
        session,
        ContactLog,
        member,
        ContactLog.contact_date.desc(),
        ContactLog.id.desc(),
        limit=100,
    )
    private = scope.role is not Role.HOST
    user_ids = {c.user_id for c in contacts if c.user_id} | (
        {member.liaison_id} if member.liaison_id else set()
    )
    authors = dict(
        session.execute(
            select(User.id, func.coalesce(User.display_name, User.username)).where(
                User.id.in_(user_ids)
            )
        ).all()
    )
    changes = _member_rows(
        session, MemberChange, member, MemberChange.changed_at.desc(), MemberChange.id.desc()
    )
    host_ids = {
        int(value)
        for change in changes
        if change.field is ChangeField.HOST_ORG
        for value in (change.old_value, change.new_value)
        if value and value.isdigit()
    }
    return MemberFile(
        member=member,
        branch=session.get(Organization, member.branch_id),
        host_org=session.get(Organization, member.host_org_id) if member.host_org_id else None,
        liaison=session.get(User, member.liaison_id) if member.liaison_id else None,
        changes=changes,
        months=months,
        messages=_member_rows(
            session, Message, member, Message.created_at.desc(), Message.id.desc(), limit=50
        )
        if private
        else [],
        calls=_member_rows(session, Call, member, Call.created_at.desc(), Call.id.desc(), limit=20)
        if private
        else [],
        recordings=_member_rows(
            session, Recording, member, Recording.created_at.desc(), Recording.id.desc(), limit=20
        )
        if private
        else [],
        contacts=[c for c in contacts if c.kind is not ContactKind.HOST_FEEDBACK],
        feedback=[c for c in contacts if c.kind is ContactKind.HOST_FEEDBACK],
        help_requests=_member_rows(session, HelpRequest, member, HelpRequest.created_at.desc())
        if private
        else [],
        flags=_member_rows(session, MakeupFlag, member, MakeupFlag.created_at.desc()),
        authors=authors,
        org_names={str(k): v for k, v in org_names(session, host_ids).items()},
    )


__all__ = ["MemberFile", "MonthCell", "member_file", "month_state"]
