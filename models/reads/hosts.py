"""A host organisation's page: its members and this month's feedback."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.contact import ContactKind, ContactLog
from models.member import Member
from models.reads.common import PER_PAGE, Page, org_names, paginate
from models.scope import Scope


@dataclass(frozen=True)
class HostRow:
    """A member attached to a host organisation, and whether this month's feedback is in."""

    member: Member
    branch_name: str
    feedback: ContactLog | None


def host_members(
    session: Session, scope: Scope, period: str, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[HostRow]:
    """The host's members, each with the feedback it left for the period (if any)."""
    query = (
        select(Member)
        .where(scope.member_clause(), Member.active.is_(True))
        .order_by(Member.branch_id, Member.id)
    )
    members = paginate(session, query, page, per_page)
    ids = [m.id for m in members.items]
    feedback = {
        c.member_id: c
        for c in session.scalars(
            select(ContactLog)
            .where(
                ContactLog.member_id.in_(ids),
                ContactLog.period == period,
                ContactLog.kind == ContactKind.HOST_FEEDBACK,
            )
            .order_by(ContactLog.id)
        )
    }
    names = org_names(session, {m.branch_id for m in members.items})
    rows = [HostRow(m, names.get(m.branch_id, ""), feedback.get(m.id)) for m in members.items]
    return Page(rows, members.page, members.per_page, members.total)


__all__ = ["HostRow", "host_members"]
