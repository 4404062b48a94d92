"""The privacy notice (告知): that a member was told what is kept and why, when, and in which
wording. The outbox sends the notice before a member's first text (models.outbox.queue_sms)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow

# The wording members are told (template `privacy_notice`). Raise it whenever the text of
# that template changes: each record keeps the version the member was told.
NOTICE_TEMPLATE = "privacy_notice"
NOTICE_VERSION = "2026-12"


class NoticeChannel(enum.StrEnum):
    """How a member was told what is kept: by a text, or in person when registered."""

    SMS = "sms"
    REGISTER = "register"


class PrivacyNotice(Base):
    """That a member was told what is kept and why: when, which wording, and how."""

    __tablename__ = "privacy_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    version: Mapped[str] = mapped_column(String(16))
    channel: Mapped[NoticeChannel] = mapped_column(enum_type(NoticeChannel, 16))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the notice -------------------------------------------------------------------------------


def has_notice(session: Session, member_id: int) -> bool:
    """Whether the member was told what is kept (any version)."""
    found = session.scalar(
        select(PrivacyNotice.id).where(PrivacyNotice.member_id == member_id).limit(1)
    )
    return found is not None


def record_notice(
    session: Session,
    member_id: int,
    channel: NoticeChannel,
    at: datetime,
    message_id: int | None = None,
) -> PrivacyNotice:
    """Record that the member was told (the current wording)."""
    notice = PrivacyNotice(
        member_id=member_id,
        version=NOTICE_VERSION,
        channel=channel,
        message_id=message_id,
        at=at,
    )
    session.add(notice)
    return notice


def notices_of(session: Session, member_id: int) -> list[PrivacyNotice]:
    """The member's notice records, oldest first."""
    return list(
        session.scalars(
            select(PrivacyNotice)
            .where(PrivacyNotice.member_id == member_id)
            .order_by(PrivacyNotice.at, PrivacyNotice.id)
        )
    )
