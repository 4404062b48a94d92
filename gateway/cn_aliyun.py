"""Alibaba Cloud's pushes: SmsReport (receipts), SmsUp (members' texts) and VoiceReport (the
record of a call, with the key pressed).

Alibaba pushes each as a JSON array to the address set in its console (通用配置 > HTTP批量推送:
`/cn/aliyun/sms-report/<secret>` and `/cn/aliyun/sms-up/<secret>`; the voice console's
订阅回执消息 > VoiceReport: `/cn/aliyun/voice-report/<secret>`) and wants exactly
`{"code":0,"msg":"接收成功"}` back; it retries after 1, 5 and 10 minutes when it does not get
an HTTP 200 (https://help.aliyun.com/zh/sms/developer-reference/smsreport-2, .../smsup-http).
The shared push route (gateway.cn_push) stores each item once under its key; these feeds say
how Alibaba's items are read and what each does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Flask, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.cn_push import BadBatch, BadItem, PushItem, register_feed
from gateway.voice import record_call_receipt
from infra.providers.aliyun import (
    PROVIDER,
    batch_ids,
    batch_lookup_sid,
    beijing_time,
    from_aliyun_number,
    lookup_sid,
    sms_report_receipt,
)
from infra.providers.aliyun_voice import DTMF_CODE, is_final, voice_report_receipt
from infra.providers.base import PushedText
from models.delivery import record_receipt
from models.message import Message
from models.push import ProviderPush
from workers.pushes import hand_on_text

# Alibaba checks only that `code` is a number; this is the body its documentation shows.
ACK = {"code": 0, "msg": "接收成功"}
# Our answer when some items could not be read (the others are kept): not 0, and saying which.
BAD_ITEMS_CODE = 1


def answer(problems: list[str]) -> Response:
    """Alibaba's acknowledgement, byte for byte; with problems, a non-zero code naming them."""
    body = ACK if not problems else {"code": BAD_ITEMS_CODE, "msg": "; ".join(problems)}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, mimetype="application/json")


def _batch(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise BadBatch("not a JSON array")
    return body


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadItem(f"no {name}")
    return value.strip()


class SmsReportFeed:
    """SmsReport: one delivery receipt per item, keyed by BizId and number."""

    provider = PROVIDER
    name = "sms-report"

    def batch(self, body: Any) -> list[Any]:
        """The items of the pushed array."""
        return _batch(body)

    def read(self, raw: Any) -> PushItem:
        """An item with a biz_id, a phone_number and a boolean success."""
        if not isinstance(raw, dict):
            raise BadItem("not an object")
        biz_id, phone = _text(raw, "biz_id"), _text(raw, "phone_number")
        if not isinstance(raw.get("success"), bool):
            raise BadItem("success is not true or false")
        # A message has one final report; a batch's messages share a BizId, not a number.
        return PushItem(key=f"{biz_id}:{phone}", payload=raw)

    def apply(self, session: Session, push: ProviderPush, item: PushItem, now: datetime) -> None:
        """Move the message the receipt is about (found by BizId, else by our OutId)."""
        receipt = sms_report_receipt(item.payload)
        if record_receipt(session, receipt, now):
            return
        out_id = str(item.payload.get("out_id") or "")
        ids = batch_ids(out_id)
        if ids:
            # A batch's message: its row is the batch's one with this number (a batch never
            # holds a number twice); before its sid is stored it adopts it, as a row does by
            # OutId; after a reconciliation it holds the sid the lookup gave it.
            row_id = session.scalar(
                select(Message.id).where(Message.id.in_(ids), Message.phone == receipt.to)
            )
            if row_id is not None and record_receipt(
                session, replace(receipt, message_id=row_id), now
            ):
                return
            record_receipt(session, replace(receipt, sid=batch_lookup_sid(out_id, receipt.to)), now)
            return
        if receipt.message_id is None:
            return
        # A row the reconciliation found by its OutId (QuerySendDetails gives no BizId) holds
        # the sid it adopted then.
        record_receipt(session, replace(receipt, sid=lookup_sid(receipt.message_id)), now)

    def answer(self, problems: list[str]) -> Response:
        """Alibaba's acknowledgement."""
        return answer(problems)


def pushed_text(payload: dict[str, Any], key: str) -> PushedText:
    """An SmsUp item as the domain's PushedText."""
    return PushedText(
        provider=PROVIDER,
        phone=from_aliyun_number(str(payload["phone_number"])),
        text=str(payload["content"]),
        sent_at=beijing_time(payload.get("send_time")),
        key=key,
    )


class SmsUpFeed:
    """SmsUp: a member's text, keyed by Alibaba's sequence_id (else number, time and text).

    Each text is stored (models.push) and handed to the SMS conversation by a job
    (gateway/cn_texts.py), whose reply goes out as a template SMS.
    """

    provider = PROVIDER
    name = "sms-up"

    def batch(self, body: Any) -> list[Any]:
        """The items of the pushed array."""
        return _batch(body)

    def read(self, raw: Any) -> PushItem:
        """An item with a phone_number and a content."""
        if not isinstance(raw, dict):
            raise BadItem("not an object")
        phone, content = _text(raw, "phone_number"), raw.get("content")
        if not isinstance(content, str):
            raise BadItem("no content")
        sequence = raw.get("sequence_id")
        if isinstance(sequence, (int, str)) and not isinstance(sequence, bool) and str(sequence):
            key = f"seq:{sequence}"
        else:
            seen = f"{phone}|{raw.get('send_time', '')}|{content}".encode()
            key = "sha256:" + hashlib.sha256(seen).hexdigest()
        pushed_text(raw, key)  # every item that is kept can be read as a text
        return PushItem(key=key, payload=raw)

    def apply(self, session: Session, push: ProviderPush, item: PushItem, now: datetime) -> bool:
        """Hand the text to the conversation (a job, once the push is committed)."""
        hand_on_text(session, push)
        return False

    def pushed_text(self, push: ProviderPush) -> PushedText:
        """A stored SmsUp item as the member's text."""
        return pushed_text(push.payload, push.key)

    def answer(self, problems: list[str]) -> Response:
        """Alibaba's acknowledgement."""
        return answer(problems)


class VoiceReportFeed:
    """VoiceReport: the record of a call Alibaba placed (IvrCall, SingleCallByVoice), pushed
    once the call ended, keyed by Alibaba's call_id and its status code (a call has one record).

    It carries our Call id (out_id), how the call ended (status_code), the seconds on the line
    (duration) and the keys pressed (dtmf); `gateway.voice.record_call_receipt` ends the call
    through the same rules as Twilio's status callback: the key saves the report, the seconds
    credit a lesson, an unanswered call is tried again.
    """

    provider = PROVIDER
    name = "voice-report"

    def batch(self, body: Any) -> list[Any]:
        """The items of the pushed array."""
        return _batch(body)

    def read(self, raw: Any) -> PushItem:
        """An item with a call_id and a status_code."""
        if not isinstance(raw, dict):
            raise BadItem("not an object")
        call_id, code = _text(raw, "call_id"), _text(raw, "status_code")
        # A call has one record; an intermediate status (if one is pushed here) has its own key.
        return PushItem(key=f"call:{call_id}:{code}", payload=raw)

    def apply(self, session: Session, push: ProviderPush, item: PushItem, now: datetime) -> None:
        """End the call the record is about (found by our OutId, else by Alibaba's call_id);
        an intermediate status (ringing, answered) is kept and changes nothing."""
        if not is_final(item.payload):
            return
        receipt = voice_report_receipt(item.payload)
        if not receipt.keys:
            # The key may have come in its own DTMF message (VoiceCallReport, 300000) during
            # the call, if that is subscribed to this address too.
            receipt = replace(receipt, keys=self._pressed(session, str(item.payload["call_id"])))
        record_call_receipt(session, receipt, now)

    def _pressed(self, session: Session, call_id: str) -> str:
        payload = session.scalar(
            select(ProviderPush.payload).where(
                ProviderPush.provider == PROVIDER,
                ProviderPush.feed == self.name,
                ProviderPush.key == f"call:{call_id}:{DTMF_CODE}",
            )
        )
        return voice_report_receipt(payload).keys if isinstance(payload, dict) else ""

    def answer(self, problems: list[str]) -> Response:
        """Alibaba's acknowledgement."""
        return answer(problems)


def init_app(app: Flask) -> None:
    """Serve Alibaba's two SMS pushes and its calls' records."""
    register_feed(app, SmsReportFeed())
    register_feed(app, SmsUpFeed())
    register_feed(app, VoiceReportFeed())


__all__ = ["ACK", "SmsReportFeed", "SmsUpFeed", "VoiceReportFeed", "init_app", "pushed_text"]
