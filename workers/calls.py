"""Placing the outbound calls the cycle and lesson campaigns ask for, paced by the call bucket."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import update
from sqlalchemy.orm import Session

from infra import clients
from infra.providers import OutboundCall, ProviderError
from models import Call, CallPurpose, CallStatus, Lesson, Member, utcnow, voice
from models.cycle import may_place_call
from models.delivery import apply_failure
from models.fallback import fallback_allowed_now, may_call_after_failed_text
from workers.context import app_context
from workers.queues import CALLS, enqueue_after_commit
from workers.rates import call_bucket

# The provider said "too many calls": try this call again this much later.
RATE_LIMITED_RETRY = timedelta(seconds=10)


def call_job_id(call_id: int) -> str:
    """The job id of placing one Call row."""
    return f"call-{call_id}"


def enqueue_call(session: Session, call: Call) -> None:
    """Place a queued Call row once the session commits."""
    enqueue_after_commit(session, place_call, call.id, queue=CALLS, job_id=call_job_id(call.id))


def place_call(call_id: int) -> str:
    """Job: place one queued outbound call; say what became of it.

    The row moves queued -> initiated by a conditional update before the provider is asked,
    so a job that runs twice places one call. A member who left meanwhile, or opted out before
    a call other than the escalation's, is not called (the row is cancelled).
    """
    with app_context() as session:
        call = session.get(Call, call_id)
        if call is None or call.status is not CallStatus.QUEUED:
            return "nothing"
        member = session.get(Member, call.member_id) if call.member_id is not None else None
        purpose, lesson_id = call.purpose, call.lesson_id
        lesson = session.get(Lesson, lesson_id) if lesson_id is not None else None
        voice_code = lesson.approved_voice_code if lesson is not None else None
        asked = voice.callback_of_call(session, call_id) is not None
        # A call for a failed text has its own rule (an essential notice reaches TD too).
        stands_in = call.message_id is not None and member is not None
        if member is None or (
            not stands_in and not may_place_call(member, call.purpose, asked=asked)
        ):
            _cancel(session, call_id)
            return "cancelled"
        if stands_in:
            later = _fallback_later(session, call, member)
            if later is not None:
                return later
        session.commit()
        call_bucket().acquire(1)
        claimed = session.execute(
            update(Call)
            .where(Call.id == call_id, Call.status == CallStatus.QUEUED)
            .values(status=CallStatus.INITIATED)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if not getattr(claimed, "rowcount", 0):
            return "nothing"
        try:
            sid = clients.provider().place_call(
                OutboundCall(
                    call_id,
                    member.phone,
                    purpose=purpose,
                    lesson_id=lesson_id,
                    voice_code=voice_code,
                )
            )
        except ProviderError as exc:
            return _not_placed(session, call_id, member, exc)
        session.execute(
            update(Call)
            .where(Call.id == call_id, Call.call_sid.is_(None))
            .values(call_sid=sid)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return "placed"


def _fallback_later(session: Session, call: Call, member: Member) -> str | None:
    """A call standing in for a failed text (models.fallback) is placed only while the rule
    allows it: cancelled if the member left or opted out (unless the notice is essential),
    moved to the member's next window if this one closed. None: place it now."""
    now = utcnow()
    if not may_call_after_failed_text(member, essential=call.purpose is CallPurpose.NOTICE):
        _cancel(session, call.id)
        return "cancelled"
    if fallback_allowed_now(session, call, member, now):
        return None
    call.next_attempt_at = voice.next_contact_time(session, member, now)
    session.commit()  # the calls tick places it when its window opens
    return "later"


def _cancel(session: Session, call_id: int) -> None:
    session.execute(
        update(Call)
        .where(Call.id == call_id, Call.status == CallStatus.QUEUED)
        .values(status=CallStatus.CANCELED, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    voice.call_not_placed(session, call_id, transient=False, at=utcnow())
    session.commit()


def _not_placed(session: Session, call_id: int, member: Member, exc: ProviderError) -> str:
    now = utcnow()
    if exc.rate_limited:
        call_bucket().slow_down()
        session.execute(
            update(Call)
            .where(Call.id == call_id, Call.status == CallStatus.INITIATED)
            .values(status=CallStatus.QUEUED)
            .execution_options(synchronize_session=False)
        )
        enqueue_after_commit(
            session,
            place_call,
            call_id,
            queue=CALLS,
            job_id=f"{call_job_id(call_id)}-later",
            at=now + RATE_LIMITED_RETRY,
        )
        session.commit()
        return "later"
    session.execute(
        update(Call)
        .where(Call.id == call_id, Call.status == CallStatus.INITIATED)
        .values(status=CallStatus.FAILED, error_code=exc.code, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    apply_failure(session, member.id, member.phone, exc.failure, now)
    voice.call_not_placed(session, call_id, transient=exc.transient, at=now)
    session.commit()
    current_app.logger.warning("call %s not placed: %s", call_id, exc)
    return "failed"


__all__ = ["call_job_id", "enqueue_call", "place_call"]
