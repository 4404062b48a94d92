"""Steps of the monthly escalation already taken, so a tick never repeats one."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_type, utcnow


class EscalationStep(enum.StrEnum):
    """The steps of the monthly escalation, in the order they come."""

    REMINDER = "reminder"
    SECOND_REMINDER = "second_reminder"
    IVR_CALL = "ivr_call"
    LIAISON_TASK = "liaison_task"


class ReminderStep(Base):
    """One escalation step (reminder, second_reminder, ivr_call, liaison_task) for a member."""

    __tablename__ = "reminder_steps"
    __table_args__ = (UniqueConstraint("member_id", "period", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    period: Mapped[str] = mapped_column(String(7), index=True)
    step: Mapped[EscalationStep] = mapped_column(enum_type(EscalationStep))
    done_at: Mapped[datetime] = mapped_column(default=utcnow)
