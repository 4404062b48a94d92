"""Texts that fail become calls: a reminder or an essential notice that ended `undelivered`
or `failed` is followed by one short call in the member's next contact window.

The call stands in for one text (`Call.message_id`, unique): a reminder's call asks for the
monthly report by keypad (the escalation's reminder call), a notice's call speaks the notice.
It goes only to a member still active with a reachable number, and after TD (opted out) only
for an essential notice. It waits for the member's window, which never falls in the quiet hours
(the one contact rule, models.cycle).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from models.broadcast import Broadcast
from models.call import Call, CallDirection, CallPurpose, CallStatus
from models.cycle import may_contact, member_rules, next_contact_time
from models.member import Member
from models.message import Direction, Message, MessageStatus
from models.period import period_bounds, period_of
from models.voice import queue_outbound_call

REMINDER_KEYS = ("reminder", "reminder_second")
FAILED = (MessageStatus.UNDELIVERED, MessageStatus.FAILED)
# Texts that failed longer ago than this are left alone: the call would no longer be news.
LOOK_BACK = timedelta(days=3)


@dataclass(frozen=True)
class FailedText:
    """A failed text that may be followed by a call, and what kind of call."""

    message: Message
    member: Member
    purpose: CallPurpose
    essential: bool


def may_call_after_failed_text(member: Member, *, essential: bool) -> bool:
    """Whether a member whose text failed may be called for it: active, a number not known
    to be invalid, and not opted out unless the notice is essential."""
    if not member.active or member.phone_invalid_at is not None:
        return False
    return essential or not member.opted_out


def failed_texts(session: Session, now: datetime, *, notices: bool = True) -> list[FailedText]:
    """The reminders and essential notices that failed lately and have no call yet
    (`notices`: False under a provider that cannot speak a notice's own words)."""
    since = now - LOOK_BACK
    no_call = ~exists().where(Call.message_id == Message.id)
    recent = func.coalesce(Message.status_at, Message.created_at) >= since
    query = (
        select(Message, Member, Broadcast.essential)
        .join(Member, Member.id == Message.member_id)
        .outerjoin(Broadcast, Broadcast.id == Message.broadcast_id)
        .where(
            Message.direction == Direction.OUT,
            Message.status.in_(FAILED),
            Message.created_at >= since - LOOK_BACK,
            recent,
            no_call,
        )
        .order_by(Message.id)
    )
    found = []
    for message, member, essential in session.execute(query):
        if message.template_key in REMINDER_KEYS and message.broadcast_id is None:
            found.append(FailedText(message, member, CallPurpose.REMINDER, False))
        elif notices and message.broadcast_id is not None and essential:
            found.append(FailedText(message, member, CallPurpose.NOTICE, True))
    return found


def _reminder_called(session: Session, member: Member, at: datetime) -> bool:
    """Whether the member already has a reminder call this period (the escalation's, or the
    one for the other reminder): a month's report is asked by phone once."""
    rules = member_rules(session, member)
    start, end = period_bounds(period_of(at, str(rules.timezone)), rules.timezone)
    found = session.scalar(
        select(Call.id)
        .where(
            Call.member_id == member.id,
            Call.direction == CallDirection.OUTBOUND,
            Call.purpose == CallPurpose.REMINDER,
            Call.created_at >= start,
            Call.created_at < end,
        )
        .limit(1)
    )
    return found is not None


def plan_fallback_calls(session: Session, now: datetime, *, notices: bool = True) -> list[Call]:
    """Queue one call for each failed reminder or essential notice that may have one, not to
    be placed before the member's next contact window (`Call.next_attempt_at`)."""
    calls = []
    for failed in failed_texts(session, now, notices=notices):
        if not may_call_after_failed_text(failed.member, essential=failed.essential):
            continue
        if failed.purpose is CallPurpose.REMINDER and _reminder_called(
            session, failed.member, failed.message.created_at
        ):
            continue
        call = queue_outbound_call(session, failed.member, purpose=failed.purpose, at=now)
        call.message_id = failed.message.id
        call.next_attempt_at = next_contact_time(
            failed.member, member_rules(session, failed.member), now
        )
        calls.append(call)
    session.flush()
    return calls


def due_fallback_calls(session: Session, now: datetime) -> list[int]:
    """The queued fallback calls whose window has come, oldest first."""
    return list(
        session.scalars(
            select(Call.id)
            .where(
                Call.message_id.is_not(None),
                Call.status == CallStatus.QUEUED,
                Call.next_attempt_at <= now,
            )
            .order_by(Call.id)
        )
    )


def fallback_allowed_now(session: Session, call: Call, member: Member, now: datetime) -> bool:
    """Whether a fallback call may be placed now (checked again when it is placed: the member
    may have opted out, or the window closed since it was queued)."""
    essential = call.purpose is CallPurpose.NOTICE
    if not may_call_after_failed_text(member, essential=essential):
        return False
    return may_contact(member, member_rules(session, member), now)


def notice_words(session: Session, call: Call) -> str | None:
    """The words a notice call speaks: the text that failed, as the member would have read it."""
    if call.purpose is not CallPurpose.NOTICE or call.message_id is None:
        return None
    message = session.get(Message, call.message_id)
    if message is None:
        return None
    broadcast = session.get(Broadcast, message.broadcast_id) if message.broadcast_id else None
    return broadcast.text if broadcast is not None else message.body


@dataclass(frozen=True)
class Reach:
    """How a notice reached its members: texts delivered, calls answered, and those whom
    neither reached (texts failed, undelivered or skipped, with no answered call)."""

    delivered: int
    answered: int
    not_reached: int


def notice_reach(session: Session, broadcast_ids: Iterable[int]) -> dict[int, Reach]:
    """Reach of each notice, by broadcast id."""
    ids = list(broadcast_ids)
    if not ids:
        return {}
    answered_call = (
        select(Call.message_id)
        .where(
            Call.message_id.is_not(None),
            Call.status == CallStatus.COMPLETED,
            func.coalesce(Call.answered_by, "human").not_like("machine%"),
            func.coalesce(Call.answered_by, "human").not_like("fax%"),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(Message.broadcast_id, Message.status, Message.id.in_(answered_call), func.count())
        .where(Message.broadcast_id.in_(ids), Message.direction == Direction.OUT)
        .group_by(Message.broadcast_id, Message.status, Message.id.in_(answered_call))
    ).all()
    counts: dict[int, list[int]] = {i: [0, 0, 0] for i in ids}
    unreached = (MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.SKIPPED)
    for broadcast_id, status, answered, number in rows:
        entry = counts[int(broadcast_id or 0)] if broadcast_id in counts else [0, 0, 0]
        if status is MessageStatus.DELIVERED:
            entry[0] += number
        elif answered:
            entry[1] += number
        elif status in unreached:
            entry[2] += number
    return {i: Reach(*c) for i, c in counts.items()}


__all__ = [
    "LOOK_BACK",
    "REMINDER_KEYS",
    "FailedText",
    "Reach",
    "due_fallback_calls",
    "failed_texts",
    "fallback_allowed_now",
    "may_call_after_failed_text",
    "notice_reach",
    "notice_words",
    "plan_fallback_calls",
]
