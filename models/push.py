"""Pushes from the mainland providers: every item kept before it is acknowledged.

Alibaba Cloud and Tencent Cloud push replies and receipts as JSON batches, unsigned, and
promise no exactly-once delivery: they retry a batch we did not acknowledge, and may send an
item twice anyway. Each item is stored once under the provider's own identity for it (its
`key`), in the transaction that acts on it, so a repeated item changes nothing and an item
whose handling failed is still kept, with the error, for someone to look at.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, utcnow

PUSH_KEY_LENGTH = 128


class ProviderPush(Base):
    """One item of a provider's push (a reply, a receipt, a call's result)."""

    __tablename__ = "provider_pushes"
    __table_args__ = (UniqueConstraint("provider", "feed", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))  # aliyun, tencent
    feed: Mapped[str] = mapped_column(String(24))  # sms-up, sms-report, voice-report, ...
    key: Mapped[str] = mapped_column(String(PUSH_KEY_LENGTH))
    payload: Mapped[dict[str, Any]]
    # The inbound text an SMS reply became, for the branch to read it where texts are.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    error: Mapped[str | None] = mapped_column(Text)  # why handling it failed, if it did
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None]


def store_push(
    session: Session, provider: str, feed: str, key: str, payload: dict[str, Any], at: datetime
) -> ProviderPush | None:
    """Keep one pushed item; None if this provider pushed it on this feed before.

    The insert runs in a savepoint, so a duplicate (also one racing in from a retry the
    provider sent meanwhile) leaves the rest of the transaction as it was.
    """
    key = key[:PUSH_KEY_LENGTH]
    if session.scalar(
        select(ProviderPush.id).where(
            ProviderPush.provider == provider, ProviderPush.feed == feed, ProviderPush.key == key
        )
    ):
        return None
    push = ProviderPush(provider=provider, feed=feed, key=key, payload=payload, received_at=at)
    try:
        with session.begin_nested():
            session.add(push)
    except IntegrityError:
        return None
    return push


__all__ = ["PUSH_KEY_LENGTH", "ProviderPush", "store_push"]
