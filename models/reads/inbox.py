"""The inbox: unhandled texts, recordings, unknown numbers and replies to notices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from models.broadcast import Broadcast
from models.call import Recording
from models.member import Member
from models.message import Direction, Message
from models.reads.common import PER_PAGE, Page, page_number, paginate
from models.reads.deeds import waiting_count
from models.scope import Scope


def unmatched_where() -> list[ColumnElement[bool]]:
    """Inbound texts not yet handled from numbers on no member's record."""
    return [
        Message.direction == Direction.IN,
        Message.handled.is_(False),
        Message.member_id.is_(None),
    ]


def _unhandled_texts(scope: Scope, linked: ColumnElement[bool]) -> Select[Message]:
    """Inbound texts of the scope's members not yet handled, newest first, further narrowed."""
    return (
        select(Message)
        .join(Member, Member.id == Message.member_id)
        .where(
            Message.direction == Direction.IN,
            Message.handled.is_(False),
            linked,
            scope.member_clause(),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
    )


def inbox_texts(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Message]:
    """Texts from the scope's members not yet handled, newest first."""
    return paginate(
        session, _unhandled_texts(scope, Message.broadcast_id.is_(None)), page, per_page
    )


def inbox_recordings(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Recording]:
    """Recordings from the scope's members (and unknown callers) not yet handled."""
    mine = select(Member.id).where(scope.member_clause())
    who: ColumnElement[bool] = Recording.member_id.in_(mine)
    if scope.sees_strangers:
        who = or_(who, Recording.member_id.is_(None))
    query = (
        select(Recording)
        .where(Recording.handled.is_(False), who)
        .order_by(Recording.created_at.desc(), Recording.id.desc())
    )
    return paginate(session, query, page, per_page)


@dataclass(frozen=True)
class UnmatchedNumber:
    """A number not on the register that texted us, with its latest message."""

    phone: str
    count: int
    last_at: datetime
    last_body: str


def unmatched_numbers(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[UnmatchedNumber]:
    """Numbers with unhandled texts from no registered member, latest first (none for a user
    who does not see strangers: Scope.sees_strangers)."""
    page = page_number(page)
    if not scope.sees_strangers:
        return Page([], page, per_page, 0)
    grouped = (
        select(
            Message.phone,
            func.count().label("n"),
            func.max(Message.created_at).label("last_at"),
            func.max(Message.id).label("last_id"),
        )
        .where(*unmatched_where())
        .group_by(Message.phone)
    )
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    rows = session.execute(
        grouped.order_by(func.max(Message.id).desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    bodies = dict(
        session.execute(
            select(Message.id, Message.body).where(Message.id.in_([r.last_id for r in rows]))
        ).all()
    )
    items = [UnmatchedNumber(r.phone, int(r.n), r.last_at, bodies.get(r.last_id, "")) for r in rows]
    return Page(items, page, per_page, total)


def unmatched_texts_of(
    session: Session, scope: Scope, phone: str, limit: int = 10
) -> list[Message]:
    """The latest unhandled texts from one unregistered number, newest first."""
    if not scope.sees_strangers:
        return []
    return list(
        session.scalars(
            select(Message)
            .where(*unmatched_where(), Message.phone == phone)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    )


def unknown_recordings_of(
    session: Session, scope: Scope, phone: str, limit: int = 10
) -> list[Recording]:
    """The latest unhandled recordings an unknown caller left from one number, newest first."""
    if not scope.sees_strangers:
        return []
    return list(
        session.scalars(
            select(Recording)
            .where(
                Recording.phone == phone,
                Recording.member_id.is_(None),
                Recording.handled.is_(False),
            )
            .order_by(Recording.id.desc())
            .limit(limit)
        )
    )


def broadcast_replies(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Message]:
    """Texts members sent in reply to a notice, not yet handled, newest first.

    Which texts answer a notice is decided as they arrive (sms_flows.conversation); every other
    text of a member is in inbox_texts.
    """
    return paginate(
        session, _unhandled_texts(scope, Message.broadcast_id.is_not(None)), page, per_page
    )


def inbox_counts(session: Session, scope: Scope) -> dict[str, int]:
    """How many items wait in each inbox tab, so none is overlooked for an empty one."""
    return {
        "texts": inbox_texts(session, scope, per_page=1).total,
        "recordings": inbox_recordings(session, scope, per_page=1).total,
        "unmatched": unmatched_numbers(session, scope, per_page=1).total,
        "replies": broadcast_replies(session, scope, per_page=1).total,
        "deeds": waiting_count(session, scope),
    }


def broadcasts_by_id(session: Session, ids: set[int | None]) -> dict[int, Broadcast]:
    """Broadcasts by id, for naming the notice a reply answers."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {b.id: b for b in session.scalars(select(Broadcast).where(Broadcast.id.in_(wanted)))}


def visible_messages(session: Session, scope: Scope, ids: Sequence[int]) -> list[Message]:
    """Those of the given inbound texts the user may handle: their members', or unmatched."""
    if not ids:
        return []
    mine = select(Member.id).where(scope.member_clause())
    who: ColumnElement[bool] = Message.member_id.in_(mine)
    if scope.sees_strangers:
        who = or_(who, Message.member_id.is_(None))
    return list(
        session.scalars(
            select(Message).where(Message.id.in_(list(ids)), Message.direction == Direction.IN, who)
        )
    )


def visible_recordings(session: Session, scope: Scope, ids: Sequence[int]) -> list[Recording]:
    """Those of the given recordings the user may handle: their members', or unknown callers'."""
    if not ids:
        return []
    mine = select(Member.id).where(scope.member_clause())
    who: ColumnElement[bool] = Recording.member_id.in_(mine)
    if scope.sees_strangers:
        who = or_(who, Recording.member_id.is_(None))
    return list(session.scalars(select(Recording).where(Recording.id.in_(list(ids)), who)))


__all__ = [
    "UnmatchedNumber",
    "broadcast_replies",
    "broadcasts_by_id",
    "inbox_counts",
    "inbox_recordings",
    "inbox_texts",
    "unknown_recordings_of",
    "unmatched_numbers",
    "unmatched_texts_of",
    "unmatched_where",
    "visible_messages",
    "visible_recordings",
]
