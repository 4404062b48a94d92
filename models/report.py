"""Monthly reports: one per member per period, every revision kept."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from models.base import Base, enum_type, utcnow
from models.member import ChangeSource, Member, move_member
from models.sql import Raw, insert_into


class Channel(enum.StrEnum):
    """How a report or request reached us."""

    SMS = "sms"
    IVR = "ivr"
    ADMIN = "admin"


_RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I on a small screen


def _receipt() -> str:
    # Short and unambiguous; 32 letters, so a random byte modulo 32 picks each without bias.
    return "".join(_RECEIPT_ALPHABET[byte % 32] for byte in secrets.token_bytes(6))


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

    Written by the period-close job once the period settled (`models.tally`); the live
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


@dataclass(frozen=True, slots=True)
class SavedReport:
    """What a member is told about a stored report, and where the member now is."""

    id: int
    receipt: str
    revision: int
    city: str | None
    employer: str | None


# One statement creates the period's report or replaces it, keeping its receipt: two texts of
# one member racing each other cannot make two reports.
_SAVE = insert_into(
    Report,
    conflict=("member_id", "period"),
    update=("studied", "same_city", "same_employer", "city", "employer", "channel", "received_at"),
    also={"revision": "reports.revision + 1"},
    returning=("id", "receipt", "revision"),
)
_REVISION = insert_into(ReportRevision)


def save_report(
    raw: Raw,
    member_id: int,
    *,
    current: tuple[str | None, str | None],
    period: str,
    studied: bool | None,
    channel: Channel,
    city: str | None = None,
    employer: str | None = None,
    same_city: bool | None = None,
    same_employer: bool | None = None,
    at: datetime,
) -> SavedReport:
    """Store a member's report for a period, replacing an earlier one and keeping its revision.

    `current` is the member's (city, employer). A new city or employer given in the report
    also moves the member, with history. Runs on the raw connection, in its transaction.
    """
    if city:
        same_city = city == current[0] if same_city is None else same_city
    if employer:
        same_employer = employer == current[1] if same_employer is None else same_employer
    now_city, now_employer = move_member(
        raw,
        member_id,
        current=current,
        city=city,
        employer=employer,
        source=ChangeSource(channel.value),
        at=at,
    )
    data = {
        "studied": studied,
        "same_city": same_city,
        "same_employer": same_employer,
        "city": city or now_city,
        "employer": employer or now_employer,
    }
    when = raw.time(at)
    report_id, receipt, revision = _SAVE.one(
        raw,
        {
            **data,
            "member_id": member_id,
            "period": period,
            "channel": channel.value,
            "receipt": _receipt(),
            "received_at": when,
        },
    )
    _REVISION.run(
        raw,
        {
            "report_id": report_id,
            "revision": revision,
            "data": raw.json(data),
            "channel": channel.value,
            "received_at": when,
        },
    )
    return SavedReport(report_id, receipt, revision, now_city, now_employer)


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
    """save_report for callers holding ORM objects (voice, admin, demo); returns the report."""
    session.flush()  # the member's pending changes first: the report reads and moves them
    saved = save_report(
        Raw.of(session.connection()),
        member.id,
        current=(member.city, member.employer),
        period=period,
        studied=studied,
        channel=channel,
        city=city,
        employer=employer,
        same_city=same_city,
        same_employer=same_employer,
        at=at or utcnow(),
    )
    # The member was moved beneath the session: tell the object without marking it changed.
    set_committed_value(member, "city", saved.city)
    set_committed_value(member, "employer", saved.employer)
    report = session.get(Report, saved.id, populate_existing=True)
    assert report is not None
    return report
