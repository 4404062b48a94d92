"""Domain operations of phone calls: calls, recordings, lesson listens and callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models.call import (
    CALL_FINAL,
    Call,
    CallbackReason,
    CallbackRequest,
    CallbackStatus,
    CallDirection,
    CallPurpose,
    CallStatus,
    Recording,
    RecordingKind,
    call_can_move,
)
from models.cycle import member_rules
from models.cycle import next_contact_time as cycle_next_contact_time
from models.help import HelpRequest
from models.lesson import Lesson, LessonCategory, LessonListen
from models.member import Member
from models.org import Organization, township_of
from models.period import period_of
from models.report import Channel, Report, ReportRevision, record_report

DEFAULT_CALLBACKS_PER_DAY = 2
# A callback the member did not pick up is tried once more, this long later (inside the window).
CALLBACK_RETRY_AFTER = timedelta(minutes=30)
MAX_CALLBACK_ATTEMPTS = 2
# A provider that is down or busy gets a callback again this much later (inside the window).
PROVIDER_RETRY_AFTER = timedelta(minutes=2)
# An outbound call that reached a machine or no one is worth another try after this long.
CALL_RETRY_AFTER = timedelta(hours=1)
# Seconds from Twilio's recordings are trusted only up to this (Record's maxLength is 120).
MAX_RECORDING_SECONDS = 3600


def find_call(session: Session, call_sid: str) -> Call | None:
    """The call with this CallSid."""
    return session.scalar(select(Call).where(Call.call_sid == call_sid))


def adopt_placed_call(session: Session, call_id: int | None, call_sid: str, to: str) -> Call | None:
    """The outbound call `call_id` that has no CallSid yet, now given `call_sid`; None unless
    it was placed to `to` (a status callback that arrived before the placing job stored it)."""
    if call_id is None:
        return None
    call = session.get(Call, call_id)
    if call is None or call.direction is not CallDirection.OUTBOUND or call.call_sid is not None:
        return None
    if call.phone != to:
        return None
    call.call_sid = call_sid
    return call


def open_inbound_call(
    session: Session,
    *,
    call_sid: str,
    phone: str,
    at: datetime,
    purpose: CallPurpose = CallPurpose.MENU,
) -> tuple[Call, Member | None, bool]:
    """The Call row for an inbound CallSid (created if new) and its caller; True when created."""
    member = session.scalar(select(Member).where(Member.phone == phone))
    call = find_call(session, call_sid)
    if call is not None:
        known = session.get(Member, call.member_id) if call.member_id is not None else member
        return call, known, False
    call = Call(
        call_sid=call_sid,
        direction=CallDirection.INBOUND,
        member_id=member.id if member is not None else None,
        phone=phone,
        purpose=purpose,
        status=CallStatus.IN_PROGRESS,
        state={},
        created_at=at,
    )
    session.add(call)
    session.flush()
    return call, member, True


def township_for(session: Session, member: Member) -> Organization:
    """The township a member's branch belongs to."""
    branch = session.get(Organization, member.branch_id)
    assert branch is not None  # branch_id is a non-null foreign key
    return township_of(session, branch)


def prompt_recordings(session: Session, member: Member | None) -> dict[str, str]:
    """Uploaded prompt recordings (prompt key -> URL) for a member: the branch's over the township's."""
    if member is None:
        return {}
    branch = session.get(Organization, member.branch_id)
    if branch is None:
        return {}
    township = township_of(session, branch)
    merged: dict[str, str] = {}
    for org in (township, branch) if township.id != branch.id else (branch,):
        prompts = org.setting("prompts") or {}
        merged.update({str(key): str(url) for key, url in prompts.items() if url})
    return merged


def report_receipt(session: Session, member: Member, at: datetime) -> str | None:
    """The receipt of the member's report for the period `at` falls in, if there is one."""
    period = period_of(at, township_for(session, member).timezone)
    return session.scalar(
        select(Report.receipt).where(Report.member_id == member.id, Report.period == period)
    )


def lesson_org_ids(session: Session, member: Member) -> list[int]:
    """The organisations whose lessons a member hears: the branch and its township."""
    township = township_for(session, member)
    return sorted({member.branch_id, township.id})


def newest_lessons(
    session: Session, member: Member | None, category: LessonCategory, limit: int
) -> Sequence[Lesson]:
    """The newest lessons of a category for a member (every organisation's when unknown)."""
    query = select(Lesson).where(Lesson.category == category)
    if member is not None:
        query = query.where(Lesson.org_id.in_(lesson_org_ids(session, member)))
    return session.scalars(
        query.order_by(Lesson.created_at.desc(), Lesson.id.desc()).limit(limit)
    ).all()


def find_lesson(session: Session, number: int) -> Lesson | None:
    """The lesson with this number (its id: the number SMS lists show and `XX 3` uses)."""
    return session.get(Lesson, number)


def save_call_report(
    session: Session,
    member: Member,
    *,
    studied: bool | None,
    same_city: bool | None,
    same_employer: bool | None,
    amend: bool,
    at: datetime,
) -> Report:
    """Write the answers given so far on a call as the member's report for this period.

    The first answer of a call makes a new revision (as an SMS report does); each later answer
    of the same call (`amend`) completes that revision, so a hang-up keeps what was said and
    one call is one revision.
    """
    period = period_of(at, township_for(session, member).timezone)
    report = session.scalar(
        select(Report).where(Report.member_id == member.id, Report.period == period)
    )
    if not amend or report is None:
        return record_report(
            session,
            member,
            period=period,
            studied=studied,
            channel=Channel.IVR,
            same_city=same_city,
            same_employer=same_employer,
            at=at,
        )
    report.studied = studied
    report.same_city = same_city
    report.same_employer = same_employer
    report.channel = Channel.IVR
    revision = session.scalar(
        select(ReportRevision).where(
            ReportRevision.report_id == report.id, ReportRevision.revision == report.revision
        )
    )
    if revision is not None:
        # A new dict, so the JSON column sees the change.
        revision.data = {
            **revision.data,
            "studied": studied,
            "same_city": same_city,
            "same_employer": same_employer,
        }
    return report


def store_recording(
    session: Session,
    *,
    call: Call,
    member: Member | None,
    kind: RecordingKind,
    url: str,
    recording_sid: str | None,
    duration: int | None,
    attach: str | None,
    at: datetime,
) -> Recording:
    """Keep a recording for the branch, with the report (`attach="report"`) or help request
    (`attach="help"`) of this call; a RecordingSid seen before is not stored twice."""
    if recording_sid:
        seen = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
        if seen is not None:
            return seen
    recording = Recording(
        recording_sid=recording_sid or None,
        call_id=call.id,
        member_id=member.id if member is not None else None,
        phone=call.phone,
        kind=kind,
        url=url,
        duration=None if duration is None else max(0, min(duration, MAX_RECORDING_SECONDS)),
        created_at=at,
    )
    if member is not None and attach == "report":
        period = period_of(at, township_for(session, member).timezone)
        recording.report_id = session.scalar(
            select(Report.id).where(Report.member_id == member.id, Report.period == period)
        )
    elif member is not None and attach == "help":
        recording.help_request_id = help_request_of_call(session, call, member)
    session.add(recording)
    session.flush()
    return recording


def help_request_of_call(session: Session, call: Call, member: Member) -> int | None:
    """The id of the newest help request the member opened by phone during this call."""
    return session.scalar(
        select(HelpRequest.id)
        .where(
            HelpRequest.member_id == member.id,
            HelpRequest.channel == Channel.IVR,
            HelpRequest.created_at >= call.created_at,
        )
        .order_by(HelpRequest.id.desc())
        .limit(1)
    )


def record_listen(
    session: Session,
    member: Member,
    *,
    lesson_id: int,
    seconds: int,
    completed: bool,
    call: Call | None,
    at: datetime,
    position: int | None = None,
) -> LessonListen | None:
    """Credit a member with listening to a lesson; one credit per lesson per call, the best kept.

    `position`: the second of the lesson the listen ended at, where the next call resumes it
    (a member's listening time is the sum of the seconds of all their listens)."""
    if session.get(Lesson, lesson_id) is None:
        return None
    seconds = max(0, seconds)
    listen = None
    if call is not None:
        listen = session.scalar(
            select(LessonListen).where(
                LessonListen.call_id == call.id, LessonListen.lesson_id == lesson_id
            )
        )
    if listen is None:
        listen = LessonListen(
            member_id=member.id,
            lesson_id=lesson_id,
            seconds=seconds,
            completed=completed,
            call_id=call.id if call is not None else None,
            listened_at=at,
            position=position,
        )
        session.add(listen)
    else:
        listen.seconds = max(listen.seconds, seconds)
        listen.completed = listen.completed or completed
        if position is not None:
            listen.position = max(listen.position or 0, position)
    session.flush()
    return listen


# A lesson left unfinished longer ago than this is not offered again.
RESUME_WITHIN = timedelta(days=30)


def unfinished_lesson(session: Session, member: Member, now: datetime) -> tuple[Lesson, int] | None:
    """The lesson the member stopped in on their last listen, and the second they stopped at:
    their newest listen (within RESUME_WITHIN), if it is not completed, ended part way and
    no later listen of that lesson finished it."""
    last = session.scalar(
        select(LessonListen)
        .where(LessonListen.member_id == member.id, LessonListen.listened_at >= now - RESUME_WITHIN)
        .order_by(LessonListen.listened_at.desc(), LessonListen.id.desc())
        .limit(1)
    )
    if last is None or last.completed or not last.position:
        return None
    lesson = session.get(Lesson, last.lesson_id)
    if lesson is None or (lesson.duration is not None and last.position >= lesson.duration):
        return None
    return lesson, last.position


def update_call_status(
    session: Session,
    call: Call,
    status: CallStatus,
    *,
    duration: int | None = None,
    answered_by: str | None = None,
    at: datetime,
) -> bool:
    """Move a call to a status Twilio reported; a late or repeated report never moves it back."""
    if answered_by:
        call.answered_by = answered_by[:24]
    if not call_can_move(call.status, status):
        return False
    call.status = status
    if status in CALL_FINAL:
        call.ended_at = at
        if duration is not None:
            call.duration = max(0, duration)
    return True


def mark_for_retry(session: Session, call: Call, at: datetime) -> None:
    """An outbound call reached a machine or no one: try again later (campaigns read
    `next_attempt_at`; a callback goes back to pending inside the member's window)."""
    call.next_attempt_at = at + CALL_RETRY_AFTER
    callback = session.scalar(select(CallbackRequest).where(CallbackRequest.call_id == call.id))
    if callback is None or callback.status != CallbackStatus.PLACED:
        return
    if call.attempt >= MAX_CALLBACK_ATTEMPTS:
        callback.status = CallbackStatus.FAILED
        return
    member = session.get(Member, callback.member_id)
    if member is None:
        callback.status = CallbackStatus.FAILED
        return
    callback.status = CallbackStatus.PENDING
    callback.scheduled_for = next_contact_time(session, member, at + CALLBACK_RETRY_AFTER)


# The missed-call callback


def next_contact_time(session: Session, member: Member, at: datetime) -> datetime:
    """The first moment at or after `at` when this member may be called: the one contact rule
    (models.cycle: the member's own window, else the branch's, minus quiet hours)."""
    return cycle_next_contact_time(member, member_rules(session, member), at)


def local_day_start(at: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of the local day `at` falls in, as an aware datetime in `at`'s zone."""
    local = at.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(at.tzinfo)


def request_callback(
    session: Session,
    member: Member,
    lesson_id: int | None,
    reason: CallbackReason,
    now: datetime,
    *,
    per_day: int = DEFAULT_CALLBACKS_PER_DAY,
) -> CallbackRequest | None:
    """Queue a call back to a member (the menu, or one lesson), inside the contact window.

    None when the member already asked `per_day` times today (township time). Asking again
    for a callback that is still waiting returns that one and does not count again.
    """
    waiting = _waiting_callback(session, member, lesson_id, reason)
    if waiting is not None:
        return waiting
    if not _callbacks_left_today(session, member, now, per_day):
        return None
    callback = CallbackRequest(
        member_id=member.id,
        lesson_id=lesson_id,
        reason=reason,
        status=CallbackStatus.PENDING,
        scheduled_for=next_contact_time(session, member, now),
        requested_at=now,
    )
    session.add(callback)
    session.flush()
    return callback


def may_call_back(
    session: Session,
    member: Member,
    lesson_id: int | None,
    reason: str,
    now: datetime,
    *,
    per_day: int = DEFAULT_CALLBACKS_PER_DAY,
) -> bool:
    """Whether `request_callback` would give a callback now (a waiting one, or a new one
    within the day's limit); it reads and writes nothing else."""
    return _waiting_callback(session, member, lesson_id, reason) is not None or (
        _callbacks_left_today(session, member, now, per_day)
    )


def _waiting_callback(
    session: Session, member: Member, lesson_id: int | None, reason: str
) -> CallbackRequest | None:
    """The member's pending callback for the same reason and lesson, if one waits."""
    return session.scalar(
        select(CallbackRequest).where(
            CallbackRequest.member_id == member.id,
            CallbackRequest.status == CallbackStatus.PENDING.value,
            CallbackRequest.reason == reason,
            CallbackRequest.lesson_id.is_(None)
            if lesson_id is None
            else CallbackRequest.lesson_id == lesson_id,
        )
    )


def _callbacks_left_today(session: Session, member: Member, now: datetime, per_day: int) -> bool:
    """Whether the member asked fewer than `per_day` callbacks today (township time)."""
    zone = member_rules(session, member).timezone
    today = session.scalar(
        select(func.count(CallbackRequest.id)).where(
            CallbackRequest.member_id == member.id,
            CallbackRequest.requested_at >= local_day_start(now, zone),
        )
    )
    return (today or 0) < per_day


def due_callbacks(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Ids of the pending callbacks whose time has come, oldest first."""
    return list(
        session.scalars(
            select(CallbackRequest.id)
            .where(
                CallbackRequest.status == CallbackStatus.PENDING,
                CallbackRequest.scheduled_for <= now,
            )
            .order_by(CallbackRequest.scheduled_for, CallbackRequest.id)
            .limit(limit)
        )
    )


def claim_callback(session: Session, callback_id: int, now: datetime) -> bool:
    """Take a due pending callback for placing (a conditional update: one job wins)."""
    result: Any = session.execute(
        update(CallbackRequest)
        .where(
            CallbackRequest.id == callback_id,
            CallbackRequest.status == CallbackStatus.PENDING,
            CallbackRequest.scheduled_for <= now,
        )
        .values(status=CallbackStatus.CALLING)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def queue_outbound_call(
    session: Session,
    member: Member,
    *,
    purpose: CallPurpose,
    at: datetime,
    lesson_id: int | None = None,
    campaign_id: int | None = None,
    attempt: int = 1,
) -> Call:
    """A new outbound Call row, queued for `workers.calls.place_call` (the one place such rows
    are made: the escalation's reminder call, a campaign's lesson call, a callback)."""
    call = Call(
        direction=CallDirection.OUTBOUND,
        member_id=member.id,
        phone=member.phone,
        purpose=purpose,
        lesson_id=lesson_id,
        campaign_id=campaign_id,
        status=CallStatus.QUEUED,
        attempt=attempt,
        state={},
        created_at=at,
    )
    session.add(call)
    session.flush()
    return call


def start_callback_call(
    session: Session, callback: CallbackRequest, member: Member, at: datetime
) -> Call:
    """The queued Call row of a claimed callback's attempt (one row per attempt); the callback
    is placed from now on, and follows what becomes of the call."""
    previous = session.get(Call, callback.call_id) if callback.call_id is not None else None
    call = queue_outbound_call(
        session,
        member,
        purpose=CallPurpose.LESSON if callback.lesson_id is not None else CallPurpose.MENU,
        lesson_id=callback.lesson_id,
        attempt=previous.attempt + 1 if previous is not None else 1,
        at=at,
    )
    callback.call_id = call.id
    callback.status = CallbackStatus.PLACED
    return call


def callback_of_call(session: Session, call_id: int) -> CallbackRequest | None:
    """The callback a call was placed for, if it was one."""
    return session.scalar(select(CallbackRequest).where(CallbackRequest.call_id == call_id))


def call_not_placed(session: Session, call_id: int, *, transient: bool, at: datetime) -> None:
    """A call the provider could not place (or that may no longer be placed): a callback that
    waited on it goes back to pending in the member's next window when the fault may pass
    (`transient`), and fails otherwise."""
    callback = callback_of_call(session, call_id)
    if callback is None or callback.status != CallbackStatus.PLACED:
        return
    member = session.get(Member, callback.member_id)
    if not transient or member is None:
        callback.status = CallbackStatus.FAILED
        return
    callback.status = CallbackStatus.PENDING
    callback.scheduled_for = next_contact_time(session, member, at + PROVIDER_RETRY_AFTER)


__all__ = [
    "DEFAULT_CALLBACKS_PER_DAY",
    "adopt_placed_call",
    "call_not_placed",
    "callback_of_call",
    "claim_callback",
    "due_callbacks",
    "find_call",
    "find_lesson",
    "mark_for_retry",
    "may_call_back",
    "newest_lessons",
    "next_contact_time",
    "open_inbound_call",
    "prompt_recordings",
    "queue_outbound_call",
    "record_listen",
    "report_receipt",
    "request_callback",
    "save_call_report",
    "start_callback_call",
    "store_recording",
    "update_call_status",
]
