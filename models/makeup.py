"""Flags for Spring Festival make-up training (春节补课)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class MakeupFlag(Base):
    """A member flagged for make-up training in a named season, e.g. 2027春节."""

    __tablename__ = "makeup_flags"
    __table_args__ = (UniqueConstraint("member_id", "season"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    season: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    flagged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    attended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
