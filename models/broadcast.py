"""Broadcast notices from a township or branch to a target group of members."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_type, utcnow


class BroadcastStatus(enum.StrEnum):
    """Where a broadcast is."""

    SCHEDULED = "scheduled"
    RESOLVING = "resolving"  # recipients being written to the outbox
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Broadcast(Base):
    """A notice stored first, then resolved into outbox rows and sent in batches."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[BroadcastStatus] = mapped_column(
        enum_type(BroadcastStatus), default=BroadcastStatus.SCHEDULED
    )
    scheduled_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
