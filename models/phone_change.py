"""A phone change asked for by SMS (`HH <new number>`): a code goes to the new phone, and
texting it back from there switches the member's number (`models.member.change_phone`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.member import ChangeSource, Member, change_phone
from models.message import Message, PhoneChange
from models.outbox import queue_sms

PHONE_CODE_TTL = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class PendingChange:
    """The newest unconfirmed change to a phone: whose, its code, until when, and the
    member's language (the confirmation is answered in it)."""

    id: int
    member_id: int
    code: str
    expires_at: datetime
    language: str | None  # None: the member is gone


def start_phone_change(session: Session, member_id: int, new_phone: str, now: datetime) -> Message:
    """Keep a pending change to `new_phone` and queue its code to that phone (essential: the
    member asked for it); returns the outbox row."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        PhoneChange(
            member_id=member_id,
            new_phone=new_phone,
            code=code,
            expires_at=now + PHONE_CODE_TTL,
            created_at=now,
        )
    )
    return queue_sms(
        session,
        template_key="phone_code",
        params={"code": code},
        phone=new_phone,
        member=None,
        essential=True,
        at=now,
    )


def pending_phone_change(session: Session, phone: str) -> PendingChange | None:
    """The newest unconfirmed change to this phone, or None."""
    row = session.execute(
        select(PhoneChange, Member.language)
        .outerjoin(Member, Member.id == PhoneChange.member_id)
        .where(PhoneChange.new_phone == phone, PhoneChange.confirmed_at.is_(None))
        .order_by(PhoneChange.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    change, language = row
    return PendingChange(
        change.id,
        change.member_id,
        change.code,
        change.expires_at,
        None if language is None else language.value,
    )


def confirm_phone_change(session: Session, change_id: int, now: datetime) -> None:
    """The code came back from the new phone: switch the member's number (PhoneTaken when
    another member has it meanwhile); the change and its code are then deleted (kept no
    longer than needed; the new number is in the member's history)."""
    change = session.get(PhoneChange, change_id)
    assert change is not None
    member = session.get(Member, change.member_id)
    assert member is not None
    change_phone(session, member, change.new_phone, source=ChangeSource.SMS, at=now)
    change.confirmed_at = now
    session.delete(change)
