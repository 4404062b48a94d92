"""Monthly reports: one per member per period, every revision kept."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.base import Base, enum_type, utcnow
from models.member import Member, change_status


class Channel(enum.StrEnum):
    """How a report or request reached us."""

    SMS = "sms"
    IVR = "ivr"
    ADMIN = "admin"


def period_of(at: datetime, timezone: str = "Asia/Shanghai") -> str:
    """The period (calendar month, YYYY-MM) an instant falls in, in a township's time zone."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def _receipt() -> str:
    # Short, unambiguous on a basic phone's screen: no 0/O, 1/I.
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(6))


class Report(Base):
    """A member's monthly report for one period (the latest revision)."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("member_id", "period"),
        # `studied` makes the index covering for the admin's per-branch reporting figures.
        Index("ix_reports_period_member", "period", "member_id", "studied"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    period: Mapped[str] = mapped_column(String(7))
    studied: Mapped[bool | None] = mapped_column(Boolean)
    same_city: Mapped[bool | None] = mapped_column(Boolean)
    same_employer: Mapped[bool | None] = mapped_column(Boolean)
    city: Mapped[str | None] = mapped_column(String(64))
    employer: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, 8))
    receipt: Mapped[str] = mapped_column(String(8))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportRevision(Base):
    """An earlier (or the current) version of a report, kept when a report is replaced."""

    __tablename__ = "report_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]]
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, 8))
    received_at: Mapped[datetime]

    # Lets a new report and its first revision go to the database in one flush.
    report: Mapped[Report] = relationship()


class NonReporter(Base):
    """A member fixed as not having reported when a period closed."""

    __tablename__ = "non_reporters"
    __table_args__ = (
        UniqueConstraint("member_id", "period"),
        # Covering for "who missed which months" over a range of periods and some branches.
        Index("ix_non_reporters_period_branch_member", "period", "branch_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportTally(Base):
    """One branch's figures for a settled period, counted once so trend charts read few rows.

    Written by models.admin when a period is first charted after it settled; the live
    tables stay the truth (a late report after that only shows in the grid and lists).
    """

    __tablename__ = "report_tallies"
    __table_args__ = (UniqueConstraint("period", "branch_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    branch_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    members: Mapped[int] = mapped_column(Integer)
    reported: Mapped[int] = mapped_column(Integer)
    studied: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


# Built once: every SMS and IVR report runs it.
_REPORT_OF = select(Report).where(
    Report.member_id == bindparam("member_id"), Report.period == bindparam("period")
)


def record_report(
    session: Session,
    member: Member,
    *,
    period: str,
    studied: bool | None,
    channel: Channel,
    city: str | None = None,
    employer: str | None = None,
    same_city: bool | None = None,
    same_employer: bool | None = None,
    at: datetime | None = None,
) -> Report:
    """Store a member's report for a period, replacing an earlier one and keeping its revision.

    A new city or employer given in the report also updates the member, with history.
    """
    at = at or utcnow()
    if city:
        same_city = city == member.city if same_city is None else same_city
    if employer:
        same_employer = employer == member.employer if same_employer is None else same_employer
    change_status(session, member, city=city, employer=employer, source=channel.value, at=at)
    with session.no_autoflush:  # the member's pending changes go in the one flush below
        report = session.scalar(_REPORT_OF, {"member_id": member.id, "period": period})
    if report is None:
        report = Report(member_id=member.id, period=period, revision=1, receipt=_receipt())
        session.add(report)
    else:
        report.revision += 1
    report.studied = studied
    report.same_city = same_city
    report.same_employer = same_employer
    report.city = city or member.city
    report.employer = employer or member.employer
    report.channel = channel
    report.received_at = at
    session.add(
        ReportRevision(
            report=report,
            revision=report.revision,
            data={
                "studied": studied,
                "same_city": same_city,
                "same_employer": same_employer,
                "city": report.city,
                "employer": report.employer,
            },
            channel=channel,
            received_at=at,
        )
    )
    session.flush()  # callers read report.id
    return report
