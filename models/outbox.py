"""The outbox: every outbound SMS is first a `queued` Message row, sent later by a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.base import utcnow
from models.member import Member
from models.message import Direction, Message, MessageStatus
from models.segments import count_segments
from models.templates import render


def queue_sms(
    session: Session,
    *,
    template_key: str,
    params: dict[str, Any],
    member: Member | None = None,
    phone: str | None = None,
    essential: bool = False,
    broadcast_id: int | None = None,
    at: datetime | None = None,
) -> Message:
    """Write an outbound message to the outbox, rendered in the member's language.

    Non-essential messages to an opted-out member are written as skipped, never sent.
    """
    to = phone or (member.phone if member else None)
    if not to:
        raise ValueError("queue_sms needs a member or a phone")
    language = member.language.value if member else None
    body = render(template_key, language, **params)
    skipped = member is not None and not essential and (member.opted_out or not member.active)
    message = Message(
        direction=Direction.OUT,
        member_id=member.id if member else None,
        phone=to,
        body=body,
        template_key=template_key,
        params=params,
        segments=count_segments(body).segments,
        essential=essential,
        broadcast_id=broadcast_id,
        status=MessageStatus.SKIPPED if skipped else MessageStatus.QUEUED,
        created_at=at or utcnow(),
    )
    session.add(message)
    session.flush()
    return message
