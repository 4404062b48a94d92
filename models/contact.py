"""Contact the branch keeps with members, and feedback from host organisations."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow
from models.period import Period


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
    # When a task was marked done (the inspection asks whether it was done in time).
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


MAX_NOTE_CHARS = 2000


def log_contact(
    session: Session,
    member_id: int,
    *,
    kind: ContactKind,
    contact_date: date,
    note: str,
    user_id: int | None,
    done: bool = True,
    at: datetime | None = None,
) -> ContactLog:
    """Log a contact with a member (or a host's feedback on them) for the month it happened."""
    entry = ContactLog(
        member_id=member_id,
        user_id=user_id,
        kind=kind,
        period=str(Period(contact_date.year, contact_date.month)),
        contact_date=contact_date,
        note=note.strip()[:MAX_NOTE_CHARS],
        done=done,
        created_at=at or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry
