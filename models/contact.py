"""Contact the branch keeps with members, and feedback from host organisations."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_type, utcnow


class ContactKind(enum.StrEnum):
    """What kind of contact was logged."""

    MONTHLY_CONTACT = "monthly_contact"  # 每月联系
    HOME_VISIT = "home_visit"  # 每季度家访
    HOST_FEEDBACK = "host_feedback"  # 流入地党组织反馈
    LIAISON_TASK = "liaison_task"  # the cycle asked a liaison to reach a member


class ContactLog(Base):
    """One logged contact with a member or the member's family."""

    __tablename__ = "contact_logs"
    __table_args__ = (Index("ix_contact_logs_member_date", "member_id", "contact_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[ContactKind] = mapped_column(enum_type(ContactKind))
    period: Mapped[str] = mapped_column(String(7), index=True)
    contact_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    done: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
