"""An inbound text on its way in: who sent it, what they were last asked, and the stored row.

These run on every SMS the webhook receives, so they are hand-written statements on the raw
connection (see models.sql), each served by one index: messages.provider_sid, members.phone
with the branch and the open conversation joined on their keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.message import Direction, Message, MessageStatus
from models.question import Question, read_question
from models.sql import Raw, Sql, insert_into


@dataclass(frozen=True, slots=True)
class Sender:
    """The member a text came from, as read at the start of handling it (never changed)."""

    id: int
    name: str
    phone: str
    city: str | None
    employer: str | None
    language: str
    opted_out: bool
    timezone: str
    # The open question, if any (a stored one that cannot be read is none), and when it
    # expires.
    question: Question | None
    expires_at: datetime | None
    # When the open question was asked (a notice sent later is the newer question).
    asked_at: datetime | None = None


_SENDER = Sql(
    """SELECT m.id, m.name, m.phone, m.city, m.employer, m.language, m.opted_out_at, o.timezone,
        c.topic, c.step, c.data, c.expires_at, c.updated_at
    FROM members m JOIN organizations o ON o.id = m.branch_id
    LEFT JOIN conversations c ON c.member_id = m.id
    WHERE m.phone = :phone"""
)


def find_sender(raw: Raw, phone: str, now: datetime) -> Sender | None:
    """The member whose registered phone is this E.164 number, with the open question."""
    row = raw.one(_SENDER, {"phone": phone})
    if row is None:
        return None
    question = None if row[8] is None else read_question(row[8], row[9], row[10])
    return Sender(
        id=row[0],
        name=row[1],
        phone=row[2],
        city=row[3],
        employer=row[4],
        language=row[5],
        opted_out=row[6] is not None,
        timezone=row[7],
        question=question,
        expires_at=None if question is None else raw.read_time(row[11]),
        asked_at=None if question is None else raw.read_time(row[12]),
    )


_SEEN = Sql("SELECT reply_body FROM messages WHERE provider_sid = :sid")


def stored_reply(raw: Raw, sid: str) -> tuple[bool, str | None]:
    """Whether a text with this provider id is stored already, and the reply it was given."""
    row = raw.one(_SEEN, {"sid": sid})
    return (False, None) if row is None else (True, row[0])


# Every other column takes the model's default (segments 1, attempts 0, ...) or stays NULL.
_STORE = insert_into(
    Message, given=("member_id", "provider_sid", "broadcast_id", "command", "reply_body")
)


def store_inbound(
    raw: Raw,
    *,
    sid: str,
    phone: str,
    body: str,
    member_id: int | None,
    broadcast_id: int | None,
    command: str,
    handled: bool,
    reply_body: str,
    at: datetime,
) -> None:
    """Keep a text for the branch to read, with what it was understood as and our reply."""
    _STORE.run(
        raw,
        {
            "direction": Direction.IN.value,
            "member_id": member_id,
            "phone": phone,
            "body": body,
            "provider_sid": sid,
            "status": MessageStatus.RECEIVED.value,
            "broadcast_id": broadcast_id,
            "command": command,
            "reply_body": reply_body,
            "handled": handled,
            "created_at": raw.time(at),
        },
    )
