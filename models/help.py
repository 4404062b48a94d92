"""Help requests: unpaid wages, housing, school places, jobs, disputes, documents."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow
from models.member import Member
from models.message import Message
from models.outbox import queue_sms
from models.report import Channel
from models.sql import Raw, Sql, insert_into


class HelpCategory(enum.StrEnum):
    """What a member needs help with; the digit is the SMS and keypad choice."""

    WAGES = "wages"  # 1 工资
    HOUSING = "housing"  # 2 住房
    SCHOOLING = "schooling"  # 3 子女入学
    JOBS = "jobs"  # 4 就业
    DISPUTE = "dispute"  # 5 纠纷
    DOCUMENTS = "documents"  # 6 证照
    OTHER = "other"  # 7 其他


CATEGORY_BY_DIGIT = {str(i): c for i, c in enumerate(HelpCategory, start=1)}
# What the member's texts call each category.
_CATEGORY_NAMES = {
    "zh_CN": {
        HelpCategory.WAGES: "工资",
        HelpCategory.HOUSING: "住房",
        HelpCategory.SCHOOLING: "子女入学",
        HelpCategory.JOBS: "就业",
        HelpCategory.DISPUTE: "纠纷",
        HelpCategory.DOCUMENTS: "证照",
        HelpCategory.OTHER: "其他",
    },
    "en": {c: c.value for c in HelpCategory},
}


def help_category_name(category: HelpCategory, language: str | None) -> str:
    """The category as a text to the member names it, in the member's language."""
    names = _CATEGORY_NAMES.get(language or "zh_CN", _CATEGORY_NAMES["zh_CN"])
    return names[category]


class HelpStatus(enum.StrEnum):
    """Where a help request is."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


class HelpRequest(Base):
    """A member's request for help, followed up by the branch."""

    __tablename__ = "help_requests"
    __table_args__ = (Index("ix_help_requests_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    category: Mapped[HelpCategory] = mapped_column(enum_type(HelpCategory))
    text: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, 8))
    status: Mapped[HelpStatus] = mapped_column(enum_type(HelpStatus), default=HelpStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    # The deadlines (models.help_deadlines): when someone first followed the request up (a
    # note or the resolution), when it went on the branch's task lists for want of that,
    # when it was escalated to the township for want of a resolution, and when the member
    # was told it is still being handled.
    first_contact_at: Mapped[datetime | None]
    contact_overdue_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    still_texted_at: Mapped[datetime | None]


class HelpEvent(enum.StrEnum):
    """A step the system took on a request by itself, kept in its history as a note."""

    CONTACT_OVERDUE = "contact_overdue"  # past the first-contact deadline: on the task lists
    ESCALATED = "escalated"  # past the resolution deadline: on the township's dashboard
    STILL_TEXTED = "still_texted"  # the member was told the request is still being handled


class HelpNote(Base):
    """A follow-up note on a help request, or a step the deadlines took (`event`)."""

    __tablename__ = "help_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    help_request_id: Mapped[int] = mapped_column(ForeignKey("help_requests.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    event: Mapped[HelpEvent | None] = mapped_column(enum_type(HelpEvent))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def open_help_request(
    session: Session,
    member: Member,
    *,
    category: HelpCategory,
    text: str,
    channel: Channel,
    at: datetime | None = None,
) -> HelpRequest:
    """Open a help request for the branch to follow up (save_help_request for ORM callers)."""
    session.flush()
    request_id = save_help_request(
        Raw.of(session.connection()),
        member.id,
        category=category,
        text=text,
        channel=channel,
        at=at or utcnow(),
    )
    request = session.get(HelpRequest, request_id)
    assert request is not None
    return request


_OPEN = insert_into(HelpRequest, returning=("id",))


def save_help_request(
    raw: Raw, member_id: int, *, category: HelpCategory, text: str, channel: Channel, at: datetime
) -> int:
    """Open a help request for the branch to follow up, on the raw connection; returns its id."""
    row = _OPEN.one(
        raw,
        {
            "member_id": member_id,
            "category": category.value,
            "text": text,
            "channel": channel.value,
            "created_at": raw.time(at),
        },
    )
    return int(row[0])


_ADD_DETAILS = Sql(
    """UPDATE help_requests SET text = CASE WHEN text = '' THEN :text
        ELSE text || :gap || :text END
    WHERE id = :request_id AND member_id = :member_id AND status <> :resolved RETURNING id"""
)


def add_help_details(raw: Raw, request_id: int, member_id: int, text: str) -> bool:
    """Add a member's follow-up text to their own request, unless it is resolved (False)."""
    text = text.strip()
    if not text:
        return False
    row = raw.one(
        _ADD_DETAILS,
        {
            "request_id": request_id,
            "member_id": member_id,
            "text": text,
            "gap": "\n",
            "resolved": HelpStatus.RESOLVED.value,
        },
    )
    return row is not None


_TAKES_DETAILS = Sql(
    """SELECT id FROM help_requests
    WHERE id = :request_id AND member_id = :member_id AND status <> :resolved"""
)


def takes_details(raw: Raw, request_id: int, member_id: int) -> bool:
    """Whether `add_help_details` would add a member's text to this request: it is the
    member's own and not resolved (read ahead by the SMS step that chooses the reply)."""
    params = {
        "request_id": request_id,
        "member_id": member_id,
        "resolved": HelpStatus.RESOLVED.value,
    }
    return raw.one(_TAKES_DETAILS, params) is not None


def ref_of(request_id: int) -> str:
    """The reference a member is given for a request: by SMS, read out by phone, on the page."""
    return f"QZ{request_id}"


def help_ref(request: HelpRequest) -> str:
    """The reference a member was given for a request (the SMS reply quotes it)."""
    return ref_of(request.id)


def assign_help_request(
    session: Session, request: HelpRequest, assignee_id: int | None, *, user_id: int | None
) -> None:
    """Give a request to someone to follow up; an open request is then in progress."""
    request.assignee_id = assignee_id
    if assignee_id is not None and request.status is HelpStatus.OPEN:
        request.status = HelpStatus.IN_PROGRESS


def add_help_note(
    session: Session,
    request: HelpRequest,
    *,
    user_id: int | None,
    text: str,
    at: datetime | None = None,
) -> HelpNote:
    """Add a follow-up note; an open request is then in progress, and a user's first note is
    the first contact the deadline asks for."""
    now = at or utcnow()
    note = HelpNote(help_request_id=request.id, user_id=user_id, text=text.strip(), created_at=now)
    session.add(note)
    if request.status is HelpStatus.OPEN:
        request.status = HelpStatus.IN_PROGRESS
    if user_id is not None and request.first_contact_at is None:
        request.first_contact_at = now
    session.flush()
    return note


def resolve_help_request(
    session: Session,
    request: HelpRequest,
    member: Member,
    *,
    user_id: int | None,
    resolution: str,
    at: datetime | None = None,
) -> Message:
    """Close a request and queue the closing SMS telling the member how it was settled.

    The SMS is essential: it answers the member's own request, so it goes even after TD.
    """
    now = at or utcnow()
    request.status = HelpStatus.RESOLVED
    request.resolution = resolution.strip()
    request.resolved_at = now
    if request.first_contact_at is None:
        request.first_contact_at = now
    session.add(
        HelpNote(
            help_request_id=request.id, user_id=user_id, text=request.resolution, created_at=now
        )
    )
    return queue_sms(
        session,
        template_key="help_resolved",
        params={"ref": help_ref(request), "note": request.resolution},
        member=member,
        essential=True,
        at=now,
    )
