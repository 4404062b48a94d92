"""The outbox: every outbound SMS is first a `queued` Message row, sent later by a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.base import utcnow
from models.member import Member
from models.message import Direction, Message, MessageStatus
from models.segments import count_segments
from models.sms_templates import TemplateError, TemplateRules, prepare
from models.templates import render

# Where a session carries the template provider's rules (set by the app's session factory).
TEMPLATE_RULES_KEY = "template_rules"


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
    rules: TemplateRules | None = None,
) -> Message:
    """Write an outbound message to the outbox, rendered in the member's language.

    Non-essential messages to an opted-out member are written as skipped, never sent. With a
    template provider's `rules` (given, or those the session carries under
    TEMPLATE_RULES_KEY), the parameters are checked
    against its limits first: the body is then the provider's template text as the member
    will read it, counted with the signature, and a row that cannot be sent is written as
    failed with the reason as its error code (`TemplateError.code`), never truncated.
    """
    to = phone or (member.phone if member else None)
    if not to:
        raise ValueError("queue_sms needs a member or a phone")
    if rules is None:
        rules = session.info.get(TEMPLATE_RULES_KEY)
    language = member.language.value if member else None
    body = render(template_key, language, **params)
    segments = count_segments(body).segments
    refused: TemplateError | None = None
    if rules is not None:
        try:
            prepared = prepare(rules, template_key, params)
        except TemplateError as exc:
            refused = exc
        else:
            body, segments = prepared.text, prepared.segments.segments
    skipped = member is not None and not essential and (member.opted_out or not member.active)
    status = MessageStatus.QUEUED
    if skipped:
        status = MessageStatus.SKIPPED
    elif refused is not None:
        status = MessageStatus.FAILED
    now = at or utcnow()
    message = Message(
        direction=Direction.OUT,
        member_id=member.id if member else None,
        phone=to,
        body=body,
        template_key=template_key,
        params=params,
        segments=segments,
        essential=essential,
        broadcast_id=broadcast_id,
        status=status,
        error_code=refused.code if status is MessageStatus.FAILED and refused else None,
        status_at=now if status is MessageStatus.FAILED else None,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message
