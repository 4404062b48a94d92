"""Members' texts the mainland providers pushed, carried out by a job (gateway/cn_texts.py).

The push route stores each text and enqueues `handle_pushed_text` after its commit; if Redis
was down then, or a worker died, the outbox sweep hands on every text still unhandled a
minute later (`hand_on_lost_texts`). The handler is the web app's (registered by
gateway.cn_texts): workers reach it through the app, importing no gateway module.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models import ProviderPush
from workers.context import app_context
from workers.queues import HIGH, enqueue, enqueue_after_commit

HANDLER_KEY = "pushed_text_handler"
FEEDS_KEY = "cn_feeds"
# A text stored this recently is its own job's; the sweep leaves it a moment.
SWEEP_GRACE = timedelta(minutes=1)


def job_id(push_id: int) -> str:
    """One job per pushed text."""
    return f"pushed-text-{push_id}"


def hand_on_text(session: Session, push: ProviderPush) -> None:
    """Carry out a stored text once the session commits (called by the push route's feed)."""
    enqueue_after_commit(session, handle_pushed_text, push.id, queue=HIGH, job_id=job_id(push.id))


def handle_pushed_text(push_id: int) -> str:
    """Job: carry out one pushed text and queue its reply."""
    with app_context():
        handler = current_app.extensions[HANDLER_KEY]
        outcome: str = handler(push_id)
        return outcome


def hand_on_lost_texts(session: Session, now: datetime) -> int:
    """The outbox sweep's part: hand on the texts still unhandled (and not failed) a minute
    after they came; how many."""
    feeds = current_app.extensions.get(FEEDS_KEY, {})
    texts = [key for key, feed in feeds.items() if hasattr(feed, "pushed_text")]
    if not texts:
        return 0
    ids = session.scalars(
        select(ProviderPush.id).where(
            ProviderPush.handled_at.is_(None),
            ProviderPush.error.is_(None),
            ProviderPush.received_at <= now - SWEEP_GRACE,
            or_(*(and_(ProviderPush.provider == p, ProviderPush.feed == f) for p, f in texts)),
        )
    ).all()
    for push_id in ids:
        enqueue(handle_pushed_text, push_id, queue=HIGH, job_id=job_id(push_id))
    return len(ids)


__all__ = ["hand_on_lost_texts", "hand_on_text", "handle_pushed_text", "job_id"]
