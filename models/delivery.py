"""What happens to an outbound message after it is sent: status moves, receipts and failures.

Providers speak of failures in their own codes; each provider module reads them into a
`Failure`, and the rules here act on that: the domain never sees a provider's code except
as text stored for the record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.member import Member, opt_out
from models.message import ALLOWED_TRANSITIONS, Direction, Message, MessageStatus
from models.sql import Raw, Sql


class Failure(enum.StrEnum):
    """Why a provider did not take or did not deliver a message or call, as the domain acts."""

    OPTED_OUT = "opted_out"  # the member unsubscribed at the carrier: never send again
    INVALID_NUMBER = "invalid_number"  # not a (mobile) number: sending again cannot succeed
    UNREACHABLE = "unreachable"  # a valid number that could not be reached this time
    RATE_LIMITED = "rate_limited"  # the provider asked us to slow down
    RETRY_LATER = "retry_later"  # a fault on the provider's side or on the way to it
    # The provider's cap for this number (or the account's for the day) is reached; every
    # request counts against it, so the row waits for the next day's window.
    OVER_CAP = "over_cap"
    REFUSED = "refused"  # anything else the provider will not do (content, account, template)


# Outcomes where the same request may succeed later.
TRANSIENT_FAILURES = frozenset({Failure.RATE_LIMITED, Failure.RETRY_LATER})


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt for one outbound message, whatever provider pushed it."""

    sid: str
    delivery: MessageStatus | None  # sent, delivered, undelivered, failed; None: untracked
    to: str
    message_id: int | None = None  # our row id, when the provider gave it back
    error_code: str | None = None
    failure: Failure | None = None


def predecessors(status: MessageStatus) -> list[MessageStatus]:
    """Every status a message may move to `status` from."""
    return [s for s, allowed in ALLOWED_TRANSITIONS.items() if status in allowed]


def advance_status(
    session: Session,
    message_id: int,
    status: MessageStatus,
    *,
    at: datetime,
    error_code: str | None = None,
    provider_sid: str | None = None,
) -> bool:
    """Move a message forward to `status` in one conditional UPDATE; False if that would go back.

    Two callbacks racing can never leave the older status last: the row only moves if its
    status, read by the database at the moment of writing, allows the transition.
    """
    values: dict[str, object] = {"status": status, "status_at": at}
    if error_code is not None:
        values["error_code"] = error_code
    if provider_sid is not None:
        values["provider_sid"] = provider_sid
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status.in_(predecessors(status)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


@cache
def _advance_by_sid(status: MessageStatus) -> Sql:
    """Move the row with a sid to `status` if its status allows (see advance_status); the
    member and number of the row moved, if one was."""
    allowed = ", ".join(f"'{before.value}'" for before in predecessors(status))
    return Sql(
        f"""
        UPDATE messages
        SET status = '{status.value}', status_at = :at,
            error_code = COALESCE(:error_code, error_code)
        WHERE provider_sid = :sid AND status IN ({allowed})
        RETURNING member_id, phone
        """
    )


def apply_failure(
    session: Session, member_id: int | None, phone: str, failure: Failure | None, at: datetime
) -> None:
    """Act on what a failure says about the recipient: an opt-out at the carrier opts the
    member out; an invalid number marks the member's number invalid (only if it is still the
    number we sent to). Other failures say nothing lasting about the member."""
    if member_id is None or failure not in (Failure.OPTED_OUT, Failure.INVALID_NUMBER):
        return
    member = session.get(Member, member_id)
    if member is None:
        return
    if failure is Failure.OPTED_OUT:
        opt_out(session, member, at)
    elif member.phone == phone and member.phone_invalid_at is None:
        member.phone_invalid_at = at


def record_receipt(session: Session, receipt: Receipt, at: datetime) -> bool:
    """Apply a delivery receipt from any provider; True if the message moved.

    The message is found by the provider's sid. A receipt that beat the worker's own write of
    the sid finds its row by our row id with the same number when the provider echoes the id;
    when it does not (Tencent's reports name only the sid), by the one outbound row to that
    number still being sent without a sid; with several such rows it cannot tell which, and
    the receipt moves nothing (the push stays stored). The row found adopts the sid. The
    status moves only forward; a failure acts on the member once, as the status moves.
    """
    if receipt.delivery is None:
        return False
    # Nearly every receipt is for a row that has its sid and moves forward: one statement on
    # the driver, for the two callbacks each text brings. The rest (a repeat, a receipt that
    # came before the sid was written, an unknown sid) takes the way below.
    session.flush()
    raw = Raw.of(session.connection())
    moved_row = raw.one(
        _advance_by_sid(receipt.delivery),
        {"sid": receipt.sid, "at": raw.time(at), "error_code": receipt.error_code},
    )
    if moved_row is not None:
        apply_failure(session, moved_row[0], moved_row[1], receipt.failure, at)
        return True
    columns = (Message.id, Message.status, Message.member_id, Message.phone)
    row = session.execute(select(*columns).where(Message.provider_sid == receipt.sid)).first()
    adopt = False
    if row is None:
        without_sid = select(*columns).where(
            Message.direction == Direction.OUT,
            Message.provider_sid.is_(None),
            Message.phone == receipt.to,
        )
        if receipt.message_id is not None:
            row = session.execute(without_sid.where(Message.id == receipt.message_id)).first()
        else:
            in_flight = session.execute(
                without_sid.where(Message.status == MessageStatus.SENDING).limit(2)
            ).all()
            row = in_flight[0] if len(in_flight) == 1 else None
        adopt = row is not None
    if row is None or row.status is receipt.delivery:
        return False
    moved = advance_status(
        session,
        row.id,
        receipt.delivery,
        at=at,
        error_code=receipt.error_code,
        provider_sid=receipt.sid if adopt else None,
    )
    if moved:
        apply_failure(session, row.member_id, row.phone, receipt.failure, at)
    return moved


__all__ = [
    "TRANSIENT_FAILURES",
    "Failure",
    "Receipt",
    "advance_status",
    "apply_failure",
    "predecessors",
    "record_receipt",
]
