"""SMS messages in and out, their status machine, and SMS conversations."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow
from models.caps import HoldReason
from models.question import Question, Step, Topic
from models.sql import Raw, Sql, insert_into

# A provider's own error code, kept as text (the mainland providers' codes are words).
ERROR_CODE_LENGTH = 64


class Direction(enum.StrEnum):
    """Inbound (from a member) or outbound (to a member)."""

    IN = "in"
    OUT = "out"


class MessageStatus(enum.StrEnum):
    """Where an SMS is in its life."""

    RECEIVED = "received"  # inbound
    QUEUED = "queued"  # in the outbox
    SENDING = "sending"  # a worker claimed it and is calling the provider
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"  # never sent: opted out, inactive, or invalid phone


S = MessageStatus
FINAL_STATUSES = frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED, S.SKIPPED})
# A late or repeated callback never moves a status backwards.
ALLOWED_TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    S.RECEIVED: frozenset(),
    S.QUEUED: frozenset({S.SENDING, S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED, S.SKIPPED}),
    S.SENDING: frozenset({S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED, S.SKIPPED}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    S.DELIVERED: frozenset(),
    S.UNDELIVERED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
}


def can_move(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether a message may go from one status to another."""
    return new in ALLOWED_TRANSITIONS[current]


class Message(Base):
    """One SMS, inbound or outbound; outbound rows are the outbox."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_member_created", "member_id", "created_at"),
        Index("ix_messages_status_next", "status", "next_attempt_at"),
        Index("ix_messages_broadcast_status", "broadcast_id", "status"),
        # One outbound row per broadcast and member; replies linked to a broadcast are not counted.
        Index(
            "ix_messages_broadcast_member",
            "broadcast_id",
            "member_id",
            unique=True,
            sqlite_where=text("direction = 'out'"),
            postgresql_where=text("direction = 'out'"),
        ),
        Index("ix_messages_direction_handled", "direction", "handled"),
        # The caps' count of a number's texts today, and lookups by number. With the direction
        # in it, SQLite no longer prefers walking the (direction, handled) index for 500 numbers.
        Index("ix_messages_phone_sent", "phone", "direction", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[Direction] = mapped_column(enum_type(Direction, 4))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    phone: Mapped[str] = mapped_column(String(32))  # the member's side, E.164 when valid
    body: Mapped[str] = mapped_column(Text, default="")
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[MessageStatus] = mapped_column(enum_type(MessageStatus))
    error_code: Mapped[str | None] = mapped_column(String(ERROR_CODE_LENGTH))  # the provider's
    # Outbound: the template the body was made from, so a template provider can send it too.
    template_key: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any] | None]
    segments: Mapped[int] = mapped_column(Integer, default=1)
    essential: Mapped[bool] = mapped_column(Boolean, default=False)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    # Inbound: what it was understood as, and the reply we gave (a replay gets the same).
    command: Mapped[str | None] = mapped_column(String(16))
    reply_body: Mapped[str | None] = mapped_column(Text)
    handled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Delivery bookkeeping for the outbox.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    # Why a queued row waits until next_attempt_at (its window, a cap); None once it goes.
    hold_reason: Mapped[HoldReason | None] = mapped_column(enum_type(HoldReason, 16))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    status_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """An open question the system asked a member by SMS, answered by digits alone.

    Read and written as a typed `models.question.Question` (`open_question`, `find_sender`).
    """

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    topic: Mapped[Topic] = mapped_column(enum_type(Topic))
    step: Mapped[Step] = mapped_column(enum_type(Step))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhoneChange(Base):
    """A pending change of phone, confirmed by a code texted back from the new number."""

    __tablename__ = "phone_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    new_phone: Mapped[str] = mapped_column(String(20), index=True)
    code: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


_ASK = insert_into(
    Conversation,
    conflict=("member_id",),
    update=("topic", "step", "data", "expires_at", "updated_at"),
)
_FORGET = Sql("DELETE FROM conversations WHERE member_id = :member_id")


def open_question(
    raw: Raw, member_id: int, question: Question, *, now: datetime, ttl_hours: int
) -> datetime:
    """Ask a member a question by SMS: digits alone will answer it until it expires (returned).

    A member has at most one open question; a new one replaces the old.
    """
    expires_at = now + timedelta(hours=ttl_hours)
    _ASK.run(
        raw,
        {
            "member_id": member_id,
            "topic": question.topic.value,
            "step": question.step.value,
            "data": raw.json(question.stored_data()),
            "expires_at": raw.time(expires_at),
            "updated_at": raw.time(now),
        },
    )
    return expires_at


def forget_question(raw: Raw, member_id: int) -> None:
    """The question is answered (or abandoned): forget it."""
    raw.run(_FORGET, {"member_id": member_id})


def open_conversation(
    session: Session, member_id: int, question: Question, *, now: datetime, ttl_hours: int
) -> None:
    """`open_question` for callers working with a Session (the reminder jobs, the voice flow)."""
    session.flush()
    open_question(Raw.of(session.connection()), member_id, question, now=now, ttl_hours=ttl_hours)


def mark_handled(session: Session, messages: list[Message]) -> int:
    """The branch has read and dealt with these inbound texts; returns how many changed."""
    changed = 0
    for message in messages:
        if message.direction is Direction.IN and not message.handled:
            message.handled = True
            changed += 1
    return changed


def link_unmatched(session: Session, phone: str, member_id: int) -> int:
    """Attach the unhandled texts from an unregistered number to a member; returns how many."""
    messages = session.scalars(
        select(Message).where(
            Message.phone == phone,
            Message.direction == Direction.IN,
            Message.member_id.is_(None),
            Message.handled.is_(False),
        )
    ).all()
    for message in messages:
        message.member_id = member_id
    return len(messages)
