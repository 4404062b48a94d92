"""What happens to an outbound message after it is sent: status moves and provider error codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from models.member import Member, opt_out
from models.message import ALLOWED_TRANSITIONS, Message, MessageStatus

# The recipient replied STOP to the carrier or the provider: never send them anything again.
UNSUBSCRIBED_CODES = frozenset({21610})
# The number is not a valid (mobile) number: sending again cannot succeed.
INVALID_NUMBER_CODES = frozenset({21211, 21614})
PERMANENT_MEMBER_CODES = UNSUBSCRIBED_CODES | INVALID_NUMBER_CODES


def predecessors(status: MessageStatus) -> list[MessageStatus]:
    """Every status a message may move to `status` from."""
    return [s for s, allowed in ALLOWED_TRANSITIONS.items() if status in allowed]


def advance_status(
    session: Session,
    message_id: int,
    status: MessageStatus,
    *,
    at: datetime,
    error_code: int | None = None,
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


def apply_error_code(
    session: Session, member_id: int | None, phone: str, code: int | None, at: datetime
) -> None:
    """Act on a provider error about the recipient: 21610 opts the member out, 21211/21614
    mark the member's number invalid (only if it is still the number we sent to)."""
    if member_id is None or code not in PERMANENT_MEMBER_CODES:
        return
    member = session.get(Member, member_id)
    if member is None:
        return
    if code in UNSUBSCRIBED_CODES:
        opt_out(session, member, at)
    elif member.phone == phone and member.phone_invalid_at is None:
        member.phone_invalid_at = at


__all__ = [
    "INVALID_NUMBER_CODES",
    "PERMANENT_MEMBER_CODES",
    "UNSUBSCRIBED_CODES",
    "advance_status",
    "apply_error_code",
    "predecessors",
]
