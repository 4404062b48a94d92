"""The help requests pages: the list and one request's recordings and notes."""

from __future__ import annotations

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from models.call import Recording
from models.help import HelpCategory, HelpNote, HelpRequest, HelpStatus
from models.member import Member
from models.reads.common import PER_PAGE, Page, paginate
from models.scope import Scope


def help_requests(
    session: Session,
    scope: Scope,
    *,
    status: HelpStatus | None = None,
    category: HelpCategory | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[HelpRequest]:
    """The scope's help requests, filtered, oldest open first then newest closed."""
    query = (
        select(HelpRequest)
        .join(Member, Member.id == HelpRequest.member_id)
        .where(scope.member_clause())
    )
    if status is not None:
        query = query.where(HelpRequest.status == status)
    if category is not None:
        query = query.where(HelpRequest.category == category)
    query = query.order_by(
        case((HelpRequest.status == HelpStatus.RESOLVED, 1), else_=0),
        HelpRequest.created_at.desc(),
        HelpRequest.id.desc(),
    )
    return paginate(session, query, page, per_page)


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


__all__ = ["help_notes", "help_recordings", "help_requests", "visible_help_request"]
