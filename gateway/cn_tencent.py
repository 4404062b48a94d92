"""Tencent Cloud's pushes: SMS status reports (`sms-status`) and members' replies (`sms-reply`).

Both are served by gateway.cn_push at /cn/tencent/<feed>/<secret>, which stores every item
before acting on it; these feeds say how Tencent shapes them and what each item does.
Tencent wants exactly `{"result":0,"errmsg":"OK"}` back, and anything else (`result` not 0,
naming the bad items) makes it push again.

A reply is stored only, for now: it is not yet handed to the SMS conversation, so nobody
answers it from here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, Response
from sqlalchemy.orm import Session

from gateway.cn_push import BadBatch, BadItem, PushItem, register_feed
from infra.providers.base import PushedText
from infra.providers.tencent import PROVIDER, reply_text, status_receipt
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


class ReplyFeed:
    """`sms-reply`: one reply object (Tencent's shape), or an array of them."""

    provider = PROVIDER
    name = "sms-reply"

    def batch(self, body: Any) -> list[Any]:
        """One object is a batch of one."""
        if isinstance(body, dict):
            return [body]
        if not isinstance(body, list):
            raise BadBatch("not a JSON object or array")
        return body

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


def init_app(app: Flask) -> None:
    """Serve Tencent's two SMS pushes."""
    register_feed(app, StatusFeed())
    register_feed(app, ReplyFeed())


__all__ = ["ReplyFeed", "StatusFeed", "answer", "init_app"]
