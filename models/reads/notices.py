"""The broadcast pages: notices, their recipients and the replies they drew."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.broadcast import Broadcast, BroadcastStatus
from models.member import Member
from models.message import Direction, Message
from models.org import Organization
from models.reads.common import Page, paginate
from models.scope import Scope
from models.targets import Target, target_members

NOTICE_REPLIES_SHOWN = 100  # the newest replies on a notice's page; the rest are counted


def broadcasts(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = 20
) -> Page[Broadcast]:
    """Broadcasts of the scope's organisations, newest first."""
    query = (
        select(Broadcast)
        .where(scope.within(Broadcast.org_id, scope.org_ids))
        .order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
    )
    return paginate(session, query, page, per_page)


def visible_broadcast(session: Session, scope: Scope, broadcast_id: int) -> Broadcast | None:
    """A broadcast of the user's organisations, else None."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not scope.sees_org(broadcast.org_id):
        return None
    return broadcast


def pending_broadcasts(session: Session, scope: Scope) -> list[Broadcast]:
    """The notices of the scope's organisations waiting for approval, oldest first."""
    return list(
        session.scalars(
            select(Broadcast)
            .where(
                scope.within(Broadcast.org_id, scope.org_ids),
                Broadcast.status == BroadcastStatus.PENDING,
            )
            .order_by(Broadcast.created_at, Broadcast.id)
        )
    )


def targeted_members(
    session: Session, broadcast: Broadcast, *, page: int = 1, per_page: int = 50
) -> Page[tuple[Member, str]]:
    """Who a notice not yet sent will reach, with their branch, in member order (what the
    approver checks before it goes)."""
    ids = target_members(session, broadcast.org_id, Target.from_dict(broadcast.target))
    query = (
        select(Member, Organization.name)
        .join(Organization, Organization.id == Member.branch_id)
        .where(Member.id.in_(ids))
        .order_by(Member.id)
    )
    page = max(1, page)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    rows = session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page([(member, branch) for member, branch in rows], page, per_page, total)


def broadcast_recipients(
    session: Session, broadcast_id: int, *, status: str = "", page: int = 1, per_page: int = 50
) -> Page[Message]:
    """The outbound messages of a broadcast, one per recipient, in member order."""
    query = select(Message).where(
        Message.broadcast_id == broadcast_id, Message.direction == Direction.OUT
    )
    if status:
        query = query.where(Message.status == status)
    return paginate(session, query.order_by(Message.member_id, Message.id), page, per_page)


def notice_replies(
    session: Session, scope: Scope, broadcast_id: int, *, limit: int = NOTICE_REPLIES_SHOWN
) -> tuple[list[Message], int]:
    """The newest texts of the scope's members that answer a notice, and how many there are."""
    query = (
        select(Message)
        .join(Member, Member.id == Message.member_id)
        .where(
            Message.direction == Direction.IN,
            Message.broadcast_id == broadcast_id,
            scope.member_clause(),
        )
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest = query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    return list(session.scalars(newest)), total


__all__ = [
    "NOTICE_REPLIES_SHOWN",
    "broadcast_recipients",
    "broadcasts",
    "notice_replies",
    "pending_broadcasts",
    "targeted_members",
    "visible_broadcast",
]
