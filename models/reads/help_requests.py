"""The help requests pages: the list and one request's recordings and notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from models.call import Recording
from models.help import HelpCategory, HelpNote, HelpRequest, HelpStatus
from models.member import Member
from models.org import Organization
from models.reads.common import PER_PAGE, Page, paginate
from models.scope import Scope


def help_requests(
    session: Session,
    scope: Scope,
    *,
    status: HelpStatus | None = None,
    category: HelpCategory | None = None,
    late: str | None = None,
    branch_id: int | None = None,
    opened: tuple[datetime, datetime] | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[HelpRequest]:
    """The scope's help requests, filtered, oldest open first then newest closed.

    `late`: "contact" the open ones past their first-contact deadline with no contact yet,
    "escalated" the open ones escalated to the township; `branch_id` and `opened` (a span of
    time) narrow to one branch and the requests opened in it (the inspection's links)."""
    query = (
        select(HelpRequest)
        .join(Member, Member.id == HelpRequest.member_id)
        .where(scope.member_clause())
    )
    if status is not None:
        query = query.where(HelpRequest.status == status)
    if category is not None:
        query = query.where(HelpRequest.category == category)
    if late in LATE:
        query = query.where(LATE[late])
    if branch_id is not None:
        query = query.where(Member.branch_id == branch_id)
    if opened is not None:
        query = query.where(HelpRequest.created_at >= opened[0], HelpRequest.created_at < opened[1])
    query = query.order_by(
        case((HelpRequest.status == HelpStatus.RESOLVED, 1), else_=0),
        HelpRequest.created_at.desc(),
        HelpRequest.id.desc(),
    )
    return paginate(session, query, page, per_page)


# The open requests past a deadline: no contact yet by the first, not resolved by the second.
LATE = {
    "contact": (HelpRequest.status != HelpStatus.RESOLVED)
    & HelpRequest.contact_overdue_at.is_not(None)
    & HelpRequest.first_contact_at.is_(None),
    "escalated": (HelpRequest.status != HelpStatus.RESOLVED)
    & HelpRequest.escalated_at.is_not(None),
}


@dataclass(frozen=True)
class LateRequest:
    """An open request past a deadline, with its member and the member's branch."""

    request: HelpRequest
    member: Member
    branch: str


def late_requests(
    session: Session, scope: Scope, late: str, *, limit: int = PER_PAGE
) -> list[LateRequest]:
    """The scope's open requests past a deadline ("contact" or "escalated"), longest late
    first: the task lists show the first kind, the township's dashboard the second."""
    stamp = HelpRequest.contact_overdue_at if late == "contact" else HelpRequest.escalated_at
    rows = session.execute(
        select(HelpRequest, Member, Organization.name)
        .join(Member, Member.id == HelpRequest.member_id)
        .join(Organization, Organization.id == Member.branch_id)
        .where(scope.member_clause(), LATE[late])
        .order_by(stamp, HelpRequest.id)
        .limit(limit)
    ).all()
    return [LateRequest(request, member, branch) for request, member, branch in rows]


def visible_help_request(session: Session, scope: Scope, request_id: int) -> HelpRequest | None:
    """A help request of a member the user may see, else None."""
    request = session.get(HelpRequest, request_id)
    if request is None:
        return None
    member = session.get(Member, request.member_id)
    if member is None or not scope.sees_member(member):
        return None
    return request


def help_recordings(session: Session, request_id: int) -> list[Recording]:
    """What the member said on the phone for a help request, oldest first."""
    return list(
        session.scalars(
            select(Recording)
            .where(Recording.help_request_id == request_id)
            .order_by(Recording.created_at, Recording.id)
        )
    )


def help_notes(session: Session, request_id: int) -> list[HelpNote]:
    """A help request's notes, oldest first."""
    return list(
        session.scalars(
            select(HelpNote)
            .where(HelpNote.help_request_id == request_id)
            .order_by(HelpNote.created_at, HelpNote.id)
        )
    )


__all__ = [
    "LATE",
    "LateRequest",
    "help_notes",
    "help_recordings",
    "help_requests",
    "late_requests",
    "visible_help_request",
]
