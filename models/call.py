"""Voice calls, their recordings, and requested callbacks."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow
from models.message import ERROR_CODE_LENGTH


class CallStatus(enum.StrEnum):
    """Twilio's call statuses, plus queued for calls we have yet to place."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


C = CallStatus
CALL_FINAL = frozenset({C.COMPLETED, C.BUSY, C.NO_ANSWER, C.FAILED, C.CANCELED})
_CALL_ORDER = {C.QUEUED: 0, C.INITIATED: 1, C.RINGING: 2, C.IN_PROGRESS: 3}


def call_can_move(current: CallStatus, new: CallStatus) -> bool:
    """Whether a call may go from one status to another (never backwards, never out of final)."""
    if current in CALL_FINAL:
        return False
    if new in CALL_FINAL:
        return True
    return _CALL_ORDER[new] > _CALL_ORDER[current]


class CallDirection(enum.StrEnum):
    """Who rang: the member (inbound) or we (outbound). Stored as written, unlike texts' in/out."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallPurpose(enum.StrEnum):
    """What a call is for."""

    MENU = "menu"  # the hotline, or a callback with the menu
    LESSON = "lesson"  # a lesson campaign's call, or a callback that plays a lesson
    REMINDER = "reminder"  # the escalation's call to a member who has not reported
    MISSED_CALL = "missed_call"  # a member rang the callback number and was rejected
    CALLBACK = "callback"
    NOTICE = "notice"  # speaks a notice whose text did not reach the member (models.fallback)
    SURVEY = "survey"  # asks a survey's questions by keypad (models.survey)


class Call(Base):
    """One phone call, inbound or outbound, with the IVR state keyed by its CallSid."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_member_created", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    direction: Mapped[CallDirection] = mapped_column(enum_type(CallDirection, 16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    phone: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[CallPurpose] = mapped_column(enum_type(CallPurpose), default=CallPurpose.MENU)
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("lesson_campaigns.id"), index=True)
    flow: Mapped[str | None] = mapped_column(String(24))
    step: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[CallStatus] = mapped_column(enum_type(CallStatus), default=CallStatus.QUEUED)
    answered_by: Mapped[str | None] = mapped_column(String(24))
    duration: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    next_attempt_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(ERROR_CODE_LENGTH))  # the provider's
    # The text that failed and this call stands in for (models.fallback): one call per text.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class RecordingKind(enum.StrEnum):
    """What a recording is for."""

    THOUGHT_REPORT = "thought_report"  # 思想汇报
    HELP = "help"
    MESSAGE = "message"  # a message for the branch
    UNKNOWN_CALLER = "unknown_caller"
    # A keypad cannot spell a city or an employer: the member says it, the branch writes it down.
    NEW_CITY = "new_city"
    NEW_EMPLOYER = "new_employer"
    DEED = "deed"  # a deed or tip for home, spoken (models.deed)
    SURVEY = "survey"  # the answer to a survey's text question, spoken (models.survey)


class Recording(Base):
    """A recording left by a member on a call, for the branch to play."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_member_created", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    phone: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[RecordingKind] = mapped_column(enum_type(RecordingKind))
    url: Mapped[str] = mapped_column(String(512))
    duration: Mapped[int | None] = mapped_column(Integer)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    help_request_id: Mapped[int | None] = mapped_column(ForeignKey("help_requests.id"))
    handled: Mapped[bool] = mapped_column(default=False)
    # The audio was let go under the retention rules or an erasure (url is then empty).
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackReason(enum.StrEnum):
    """Why a member is to be called back."""

    MISSED_CALL = "missed_call"  # the member rang the callback number
    LESSON = "lesson"  # `XX 3`: call me with lesson 3


class CallbackStatus(enum.StrEnum):
    """Where a requested callback is: waiting for the window, being placed, placed, or given up."""

    PENDING = "pending"
    CALLING = "calling"  # a job claimed it and is asking the provider to call
    PLACED = "placed"
    FAILED = "failed"


class CallbackRequest(Base):
    """A member asked to be called back: a missed call, or `XX 3` for lesson 3."""

    __tablename__ = "callback_requests"
    __table_args__ = (Index("ix_callback_requests_member_requested", "member_id", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    reason: Mapped[CallbackReason] = mapped_column(enum_type(CallbackReason))
    status: Mapped[CallbackStatus] = mapped_column(
        enum_type(CallbackStatus, 16), default=CallbackStatus.PENDING, index=True
    )
    scheduled_for: Mapped[datetime | None]
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)


def link_unknown_recordings(session: Session, phone: str, member_id: int) -> int:
    """Attach an unknown caller's unhandled recordings (and their calls) to a member."""
    recordings = session.scalars(
        select(Recording).where(
            Recording.phone == phone,
            Recording.member_id.is_(None),
            Recording.handled.is_(False),
        )
    ).all()
    for recording in recordings:
        recording.member_id = member_id
        call = session.get(Call, recording.call_id) if recording.call_id else None
        if call is not None and call.member_id is None:
            call.member_id = member_id
    return len(recordings)


def mark_recordings_handled(session: Session, recordings: list[Recording]) -> int:
    """The branch has listened to and dealt with these recordings; returns how many changed."""
    changed = 0
    for recording in recordings:
        if not recording.handled:
            recording.handled = True
            changed += 1
    return changed
