"""The outbox: every outbound SMS is first a `queued` Message row, sent later by a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.base import utcnow
from models.member import Member
from models.message import Direction, Message, MessageStatus
from models.notice import NOTICE_TEMPLATE, NoticeChannel, has_notice, record_notice
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
    if member is not None and template_key != NOTICE_TEMPLATE:
        send_notice_first(session, member, essential=essential, at=at, rules=rules)
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


def send_notice_first(
    session: Session,
    member: Member,
    *,
    essential: bool = False,
    at: datetime | None = None,
    rules: TemplateRules | None = None,
) -> Message | None:
    """Before the first text a member is sent, queue the privacy notice (what is kept and why)
    and record it; returns the notice's row, or None when the member was already told.

    The notice is a text of its own, queued just before the text it precedes (so a template
    provider sends an approved template, and it counts under the number's caps like any text);
    it goes whenever that text would go (a text sent after TD, as an essential one, takes it
    along). A notice that would be skipped, or that the provider's rules refuse (its template
    not approved yet), is not recorded: the next text tries again.
    """
    if member.id is None or has_notice(session, member.id):
        return None
    now = at or utcnow()
    notice = queue_sms(
        session,
        template_key=NOTICE_TEMPLATE,
        params={},
        member=member,
        essential=essential,
        at=now,
        rules=rules,
    )
    if notice.status is MessageStatus.QUEUED:
        record_notice(session, member.id, NoticeChannel.SMS, now, message_id=notice.id)
        session.flush()
    elif notice.status is MessageStatus.FAILED:
        # The provider has not approved the notice's template yet (`flask templates pending`
        # lists it): no row that could never go, and the member is not recorded as told.
        session.delete(notice)
        session.flush()
    return notice
