"""The outbox sweep: the periodic job that hands on whatever nobody else will.

It covers single texts (`workers.sending`) and broadcasts (`workers.broadcasts`) alike, so it
lives beside both rather than in either.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from models import Message, MessageStatus, utcnow
from workers.broadcasts import sweep_broadcasts
from workers.context import app_context
from workers.pushes import hand_on_lost_texts
from workers.queues import DEFAULT, enqueue
from workers.sending import JOB_TIMEOUT, RANGE_SIZE, SWEEP_GRACE, range_job_id, send_range
from workers.voice_files import sweep_voice_files


def sweep_outbox(now_iso: str | None = None) -> dict[str, int]:
    """Cron job: hand on every due queued row whose job is gone (Redis lost it, a worker died)
    or whose time has come (a broadcast row waiting for its member's window), and every text
    a mainland provider pushed whose job was lost; and, for a voice provider that plays only
    approved files, where lessons' uploads and reviews stand (workers.voice_files).

    Jobs still waiting or running are left alone (their ids are deterministic). `now_iso`:
    sweep as of this time instead of the clock (tests).
    """
    with app_context() as session:
        now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
        due = or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now)
        firsts = session.scalars(
            select(Message.id // RANGE_SIZE)
            .where(
                Message.status == MessageStatus.QUEUED,
                Message.broadcast_id.is_(None),
                due,
                Message.created_at <= now - SWEEP_GRACE,
            )
            .distinct()
        ).all()
        for number in firsts:
            first = int(number) * RANGE_SIZE
            enqueue(
                send_range, first, queue=DEFAULT, job_id=range_job_id(first), timeout=JOB_TIMEOUT
            )
        parts = sweep_broadcasts(session, now, now_iso)
        texts = hand_on_lost_texts(session, now)
        session.commit()
        lessons = sweep_voice_files(session, now)
        session.commit()
        return {
            "ranges": len(firsts),
            "broadcast_parts": parts,
            "pushed_texts": texts,
            "lesson_voice_files": lessons,
        }


__all__ = ["sweep_outbox"]
