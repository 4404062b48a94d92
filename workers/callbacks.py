"""Placing the calls back that members asked for (a missed call, or `XX 3` for lesson 3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models import Member, utcnow, voice
from models.call import CallbackRequest, CallbackStatus
from models.fallback import due_fallback_calls, plan_fallback_calls
from models.outbox import TEMPLATE_RULES_KEY
from workers.calls import call_job_id, place_call
from workers.context import app_context
from workers.queues import CALLS, enqueue, enqueue_after_commit


def job_id(callback_id: int) -> str:
    """The RQ job id of a callback's placing: a second enqueue of a pending one does nothing."""
    return f"callback-{callback_id}"


def enqueue_callback(session: Session, callback: CallbackRequest, now: datetime) -> None:
    """Place a callback once the session commits: now if it is due, else at its window."""
    when = callback.scheduled_for
    enqueue_after_commit(
        session,
        place_callback,
        callback.id,
        queue=CALLS,
        job_id=job_id(callback.id),
        at=when if when is not None and when > now else None,
    )


def place_callback_soon(callback_id: int) -> None:
    """Try a committed callback now; one that is not due yet is placed by the cron tick."""
    enqueue(place_callback, callback_id, queue=CALLS, job_id=job_id(callback_id))


def place_callback(callback_id: int) -> str | None:
    """Call a member back; returns what `place_call` made of the attempt, or None when no call
    was started.

    Only a due pending callback is taken (a job that runs twice starts one call), and a job
    that runs after the member's window closed moves the callback to the next window. The
    call itself is placed as every outbound call is (`workers.calls.place_call`: paced,
    claimed, the provider's errors mapped), and the callback follows what becomes of it.
    """
    with app_context() as session:
        now = utcnow()
        if not voice.claim_callback(session, callback_id, now):
            session.rollback()
            return None
        callback = session.get(CallbackRequest, callback_id)
        assert callback is not None  # just claimed
        member = session.get(Member, callback.member_id)
        if member is None or not member.active or member.phone_invalid_at is not None:
            callback.status = CallbackStatus.FAILED
            session.commit()
            return None
        start = voice.next_contact_time(session, member, now)
        if start > now:
            callback.status = CallbackStatus.PENDING
            callback.scheduled_for = start
            session.commit()
            return None
        call_id = voice.start_callback_call(session, callback, member, now).id
        session.commit()  # the call row exists before the provider can ask for its TwiML
    return place_call(call_id)


def due_callbacks_tick(now_iso: str | None = None) -> int:
    """Enqueue every pending callback whose time has come (the cron sweep); returns how many.

    The same sweep follows texts that failed with calls (`fallback_tick`)."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    with app_context() as session:
        due = voice.due_callbacks(session, now)
        for callback_id in due:
            enqueue(place_callback, callback_id, queue=CALLS, job_id=job_id(callback_id))
        fallback_tick(session, now)
    return len(due)


def fallback_tick(session: Session, now: datetime) -> list[int]:
    """Queue a call for each reminder or essential notice whose text failed, and place those
    whose member's window has come; returns the ids of the calls handed to the workers.

    A provider that speaks only approved templates (the mainland ones) cannot read a notice
    out: there, only reminders are followed by a call (the report question they can ask)."""
    speaks_text = session.info.get(TEMPLATE_RULES_KEY) is None
    plan_fallback_calls(session, now, notices=speaks_text)
    session.commit()
    due = due_fallback_calls(session, now)
    for call_id in due:
        enqueue(place_call, call_id, queue=CALLS, job_id=call_job_id(call_id))
    return due


__all__ = [
    "due_callbacks_tick",
    "enqueue_callback",
    "fallback_tick",
    "job_id",
    "place_callback",
]
