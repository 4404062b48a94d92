"""Tencent Cloud's pushes: SMS status reports (`sms-status`), members' replies (`sms-reply`)
and what became of a call (`voice-status`: its status, its key presses, its failure).

Each is served by gateway.cn_push at /cn/tencent/<feed>/<secret>, which stores every item
before acting on it; these feeds say how Tencent shapes them and what each item does.
Tencent wants exactly `{"result":0,"errmsg":"OK"}` back, and anything else (`result` not 0,
naming the bad items) makes it push again. A reply is handed to the SMS conversation
(workers.pushes), whose answer goes out as a template SMS.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.cn_push import BadBatch, BadItem, PushItem, register_feed
from gateway.voice import record_call_receipt
from infra.providers.base import PushedText
from infra.providers.tencent import (
    PROVIDER,
    VoiceEvent,
    call_receipt,
    reply_text,
    status_receipt,
    voice_event,
)
from models.call import Call, CallDirection, CallStatus
from models.delivery import record_receipt
from models.push import ProviderPush
from workers.pushes import hand_on_text


def answer(problems: list[str]) -> Response:
    """Tencent's acknowledgement, byte for byte, or a refusal naming the problems."""
    body = (
        {"result": 0, "errmsg": "OK"}
        if not problems
        else {
            "result": 1,
            "errmsg": "; ".join(problems),
        }
    )
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(payload, mimetype="application/json")


class StatusFeed:
    """`sms-status`: a JSON array of delivery reports, each moving its message by its sid."""

    provider = PROVIDER
    name = "sms-status"

    def batch(self, body: Any) -> list[Any]:
        """The reports; a body that is not an array is not this feed's."""
        if not isinstance(body, list):
            raise BadBatch("not a JSON array")
        return body

    def read(self, raw: Any) -> PushItem:
        """One report, known by its sid and status (a repeat has both the same)."""
        if not isinstance(raw, dict):
            raise BadItem("not an object")
        try:
            receipt = status_receipt(raw)
        except ValueError as exc:
            raise BadItem(str(exc)) from None
        return PushItem(key=f"{receipt.sid}:{raw['report_status']}", payload=raw)

    def apply(self, session: Session, push: ProviderPush, item: PushItem, now: datetime) -> None:
        """Apply the receipt to its message (`record_receipt`: Tencent's report names only its
        sid, so one that beats the worker's write of the sid goes to the one row in flight to
        that number)."""
        record_receipt(session, status_receipt(item.payload), now)

    def answer(self, problems: list[str]) -> Response:
        """Tencent's acknowledgement."""
        return answer(problems)


def one_or_many(body: Any) -> list[Any]:
    """A Tencent push that is one object (its usual shape) or an array of them, as a batch."""
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise BadBatch("not a JSON object or array")
    return body


class ReplyFeed:
    """`sms-reply`: one reply object (Tencent's shape), or an array of them."""

    provider = PROVIDER
    name = "sms-reply"

    def batch(self, body: Any) -> list[Any]:
        """One object is a batch of one."""
        return one_or_many(body)

    def read(self, raw: Any) -> PushItem:
        """One reply, known by number, time and text."""
        if not isinstance(raw, dict):
            raise BadItem("not an object")
        try:
            text = reply_text(raw)
        except ValueError as exc:
            raise BadItem(str(exc)) from None
        return PushItem(key=text.key, payload=raw)

    def apply(self, session: Session, push: ProviderPush, item: PushItem, now: datetime) -> bool:
        """Hand the text to the conversation (a job, once the push is committed)."""
        hand_on_text(session, push)
        return False

    def pushed_text(self, push: ProviderPush) -> PushedText:
        """A stored reply as the member's text."""
        return reply_text(push.payload)

    def answer(self, problems: list[str]) -> Response:
        """Tencent's acknowledgement."""
        return answer(problems)


class VoiceFeed:
    """`voice-status`: Tencent's voice callbacks, one object a push (or an array of them).

    A call's key presses and its end come in separate pushes, in either order, each perhaps
    twice. Every item is stored (with the callid in its key), and each new one settles its
    call from everything stored for it so far (`settle_call`): the call ends through
    gateway.voice.record_call_receipt once an item says how it ended, with the keys pressed so
    far; a key that comes after the end brings the answer the end did not have, through the
    same function, which takes a call's answer once.
    """

    provider = PROVIDER
    name = "voice-status"

    def batch(self, body: Any) -> list[Any]:
        """One object is a batch of one."""
        return one_or_many(body)

    def read(self, raw: Any) -> PushItem:
        """One callback, known by its callid, kind and what it says."""
        if not isinstance(raw, dict):
            raise BadItem("not an object")
        try:
            event = voice_event(raw)
        except ValueError as exc:
            raise BadItem(str(exc)) from None
        return PushItem(key=event.identity, payload=raw)

    def apply(self, session: Session, push: ProviderPush, item: PushItem, now: datetime) -> None:
        """Settle the call this item is about."""
        settle_call(session, voice_event(item.payload), now)

    def answer(self, problems: list[str]) -> Response:
        """Tencent's acknowledgement."""
        return answer(problems)


def settle_call(session: Session, event: VoiceEvent, now: datetime) -> str:
    """Carry out what the voice items stored for this event's call say, so far: nothing while
    none says how it ended; else its receipt (end, keys, failure code) through
    record_call_receipt. Says what became of it (record_call_receipt's word, or "waiting").

    The call's row is locked first: a key and the call's end pushed at the same moment are
    settled one after the other, the second seeing the first's item (PostgreSQL's read
    committed), so neither is lost whichever commits first.
    """
    call = _call_of(session, event)
    stored = session.scalars(
        select(ProviderPush)
        .where(
            ProviderPush.provider == PROVIDER,
            ProviderPush.feed == VoiceFeed.name,
            ProviderPush.key.startswith(f"{event.call_sid}:", autoescape=True),
        )
        .order_by(ProviderPush.id)
    ).all()
    receipt = call_receipt([voice_event(push.payload) for push in stored])
    if receipt is None:
        return "waiting"
    if call is None:
        raise LookupError(f"no outbound call with callid {event.call_sid}")
    return record_call_receipt(session, receipt, now)


def _call_of(session: Session, event: VoiceEvent) -> Call | None:
    """The call by Tencent's callid; else the one call to that number placed a moment ago
    whose callid the placing job has not stored yet, which adopts it."""
    call = session.scalar(select(Call).where(Call.call_sid == event.call_sid).with_for_update())
    if call is not None:
        return call
    placed = session.scalars(
        select(Call)
        .where(
            Call.direction == CallDirection.OUTBOUND,
            Call.phone == event.to,
            Call.status == CallStatus.INITIATED,
            Call.call_sid.is_(None),
        )
        .limit(2)
        .with_for_update()
    ).all()
    if len(placed) != 1:
        return None
    placed[0].call_sid = event.call_sid
    return placed[0]


def init_app(app: Flask) -> None:
    """Serve Tencent's SMS pushes and its voice callback."""
    register_feed(app, StatusFeed())
    register_feed(app, ReplyFeed())
    register_feed(app, VoiceFeed())


__all__ = [
    "ReplyFeed",
    "StatusFeed",
    "VoiceFeed",
    "answer",
    "init_app",
    "settle_call",
]
