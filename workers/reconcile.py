"""Rows stuck in `sending`: ask the provider before anything is sent again.

A worker can die after the provider accepted a message and before we stored its sid. Such a
row stays in `sending`. Past a timeout this job lists the provider's messages to that number
since the row was made: one with the same body whose sid no row holds is adopted (the row is
sent); if there is none once the provider's lookup is complete (its `lookup_lag` after the
claim), the provider never got it and the row is queued again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import clients
from infra.providers import Provider, ProviderError
from models import Message, MessageStatus, utcnow
from models.delivery import advance_status, apply_failure
from workers.context import app_context
from workers.sending import find_sent, schedule_retry

STUCK_AFTER = timedelta(minutes=2)  # far longer than a provider request may take
BATCH = 200


def reconcile_message(session: Session, provider: Provider, message: Message, now: datetime) -> str:
    """Settle one row in `sending`: 'adopted' the provider's sid, or 'requeued'; 'waiting'
    while the provider's lookup may still not list a message it accepted (its `lookup_lag`).

    Raises ProviderError when the provider cannot be asked (the row stays as it is).
    """
    found = find_sent(
        session, provider, message.id, message.phone, message.body, message.created_at
    )
    claimed = message.claimed_at or message.created_at
    if found is None and now - claimed < provider.lookup_lag:
        return "waiting"
    if found is not None:
        advance_status(session, message.id, MessageStatus.SENT, at=now, provider_sid=found.sid)
        session.execute(
            update(Message)
            .where(Message.id == message.id, Message.sent_at.is_(None))
            .values(sent_at=found.date_created or now)
            .execution_options(synchronize_session=False)
        )
        final = found.delivery
        if (
            final is not None
            and final is not MessageStatus.SENT
            and advance_status(session, message.id, final, at=now, error_code=found.error_code)
        ):
            apply_failure(session, message.member_id, message.phone, found.failure, now)
        return "adopted"
    # Never reached the provider: the claim's attempt does not count.
    session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == MessageStatus.SENDING)
        .values(
            status=MessageStatus.QUEUED,
            attempts=Message.attempts - 1,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    schedule_retry(session, message.id, now)
    return "requeued"


def reconcile_stuck(stuck_after_seconds: float | None = None) -> dict[str, int]:
    """Cron job: reconcile every row in `sending` claimed longer ago than the timeout."""
    stuck_after = (
        STUCK_AFTER if stuck_after_seconds is None else timedelta(seconds=stuck_after_seconds)
    )
    counts = {"adopted": 0, "requeued": 0, "waiting": 0, "unreachable": 0}
    with app_context() as session:
        provider = clients.provider()
        last_id = 0
        while True:
            now = utcnow()
            rows = list(
                session.scalars(
                    select(Message)
                    .where(
                        Message.status == MessageStatus.SENDING,
                        Message.claimed_at < now - stuck_after,
                        Message.id > last_id,
                    )
                    .order_by(Message.id)
                    .limit(BATCH)
                )
            )
            if not rows:
                return counts
            for message in rows:
                last_id = message.id
                try:
                    counts[reconcile_message(session, provider, message, now)] += 1
                except ProviderError:
                    counts["unreachable"] += 1
                    session.rollback()
                    continue
                session.commit()


__all__ = ["STUCK_AFTER", "reconcile_message", "reconcile_stuck"]
