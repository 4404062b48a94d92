"""Broadcast jobs: resolve the recipients into the outbox part by part, and send each part."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rq import get_current_job
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from infra import clients
from models import Broadcast, BroadcastStatus, Message, MessageStatus, utcnow
from models.broadcast import (
    PART_SIZE,
    finish_if_done,
    finish_resolving,
    next_part,
    part_rows,
    write_outbox_part,
)
from workers.context import app_context
from workers.queues import BULK, DEFAULT, enqueue, enqueue_after_commit, hold_lease
from workers.sending import JOB_TIMEOUT, finish_job, make_sender

# Notices not to be sent (yet): waiting for approval, or returned to their author.
WAITING = (BroadcastStatus.PENDING, BroadcastStatus.RETURNED)


def resolve_job_id(broadcast_id: int) -> str:
    """The job id of a broadcast's resolution."""
    return f"broadcast-resolve-{broadcast_id}"


def part_job_id(broadcast_id: int, part: int) -> str:
    """The job id of one part's sending."""
    return f"send-broadcast-{broadcast_id}-{part}"


def start_broadcast(session: Session, broadcast: Broadcast) -> None:
    """Resolve the broadcast at its scheduled time, once the session commits (nothing for a
    notice waiting for approval, or returned: approving it starts it)."""
    if broadcast.status in WAITING:
        return
    now = utcnow()
    at = broadcast.scheduled_at if broadcast.scheduled_at > now + timedelta(seconds=1) else None
    enqueue_after_commit(
        session,
        resolve_broadcast,
        broadcast.id,
        queue=DEFAULT,
        job_id=resolve_job_id(broadcast.id),
        at=at,
        timeout=JOB_TIMEOUT,
    )


def _as_of(now_iso: str | None) -> datetime:
    """The time a job runs as of: the one given (tests, a replayed tick), else the clock."""
    return datetime.fromisoformat(now_iso) if now_iso else utcnow()


def _part_args(broadcast_id: int, part: int, now_iso: str | None) -> tuple[Any, ...]:
    return (broadcast_id, part) if now_iso is None else (broadcast_id, part, now_iso)


def _enqueue_part(session: Session, broadcast_id: int, part: int, now_iso: str | None) -> None:
    enqueue_after_commit(
        session,
        send_broadcast_part,
        *_part_args(broadcast_id, part, now_iso),
        queue=BULK,
        job_id=part_job_id(broadcast_id, part),
        timeout=JOB_TIMEOUT,
    )


def resolve_broadcast(broadcast_id: int, now_iso: str | None = None) -> int:
    """Job: write the broadcast's outbox rows part by part, sending each part once written.

    Every part is one transaction; running this again (a worker died, Redis was emptied)
    writes only the rows still missing and hands every part on again. Returns rows written.
    A member outside their contact window gets a row that waits for it (the outbox sweep
    hands it on when due). `now_iso`: run as of this time instead of the clock.
    """
    with app_context() as session:
        job = get_current_job()
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status in (
            BroadcastStatus.DONE,
            BroadcastStatus.CANCELLED,
            *WAITING,
        ):
            return 0
        now = _as_of(now_iso)
        if broadcast.scheduled_at > now + timedelta(seconds=5):
            start_broadcast(session, broadcast)  # run early: wait for the time asked for
            session.commit()
            return 0
        if broadcast.status is BroadcastStatus.SCHEDULED:
            broadcast.status = BroadcastStatus.RESOLVING
            session.commit()
        written = 0
        part = next_part(session, broadcast, None)
        while part is not None:
            written += write_outbox_part(session, broadcast, part, _as_of(now_iso))
            _enqueue_part(session, broadcast.id, part, now_iso)
            session.commit()
            if job is not None:
                hold_lease(clients.redis(), job.id)
            part = next_part(session, broadcast, part)
        finish_resolving(session, broadcast)
        session.commit()
        return written


def send_broadcast_part(broadcast_id: int, part: int, now_iso: str | None = None) -> dict[str, int]:
    """Job: send the due queued rows of one part of a broadcast, paced, in member order.

    A row whose member's window is shut (it closed while the part was being sent) is held
    for the next window. `now_iso`: send as of this time instead of the clock.
    """
    with app_context() as session:
        now = None if now_iso is None else _as_of(now_iso)
        sender = make_sender(session, now)
        try:
            due = part_rows(session, broadcast_id, part, sender.now())
            session.commit()
            sender.send_all(due.rows, due.facts)
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is not None and finish_if_done(session, broadcast, sender.now()):
                session.commit()
            return sender.counts
        finally:
            finish_job(sender)


def sweep_broadcasts(session: Session, now: datetime, now_iso: str | None = None) -> int:
    """Hand on broadcasts whose jobs are gone; returns how many parts were enqueued.

    Scheduled broadcasts whose time has come and resolutions that stopped are resolved
    again; parts with due queued rows (lost jobs, or rows whose members' windows opened)
    get their send job back (a pending one is kept). `now_iso` is handed to the jobs.
    """
    for broadcast in session.scalars(
        select(Broadcast).where(
            or_(
                Broadcast.status == BroadcastStatus.RESOLVING,
                Broadcast.status == BroadcastStatus.SCHEDULED,
            ),
            Broadcast.scheduled_at <= now,
        )
    ):
        enqueue(
            resolve_broadcast,
            *((broadcast.id,) if now_iso is None else (broadcast.id, now_iso)),
            queue=DEFAULT,
            job_id=resolve_job_id(broadcast.id),
            timeout=JOB_TIMEOUT,
        )
    parts = session.execute(
        select(Message.broadcast_id, Message.member_id // PART_SIZE)
        .where(
            Message.broadcast_id.is_not(None),
            Message.status == MessageStatus.QUEUED,
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        )
        .distinct()
    ).all()
    for broadcast_id, part in parts:
        if broadcast_id is None or part is None:
            continue
        enqueue(
            send_broadcast_part,
            *_part_args(broadcast_id, int(part), now_iso),
            queue=BULK,
            job_id=part_job_id(broadcast_id, int(part)),
            timeout=JOB_TIMEOUT,
        )
    for broadcast in session.scalars(
        select(Broadcast).where(Broadcast.status == BroadcastStatus.SENDING)
    ):
        finish_if_done(session, broadcast, now)
    return len(parts)


__all__ = [
    "part_job_id",
    "resolve_broadcast",
    "resolve_job_id",
    "send_broadcast_part",
    "start_broadcast",
    "sweep_broadcasts",
]
