"""Inbound webhooks parsed into small typed values, whoever the provider is."""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from models.numbers import parse_int

MAX_BODY = 1600


class BadWebhook(ValueError):
    """A webhook without the fields every provider sends."""


@dataclass(frozen=True)
class InboundSms:
    """An SMS a member sent us."""

    sid: str
    sender: str
    to: str
    body: str
    num_media: int


def parse_inbound_sms(form: MultiDict[str, str]) -> InboundSms:
    """Twilio's inbound SMS parameters as an InboundSms; BadWebhook if From or MessageSid is missing."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not sid or not sender:
        raise BadWebhook("MessageSid and From are required")
    num_media = parse_int(form.get("NumMedia"), 0) or 0
    return InboundSms(
        sid=sid[:64],
        sender=sender[:32],
        to=(form.get("To") or "").strip()[:32],
        # PostgreSQL text cannot hold NUL; no phone sends one, so dropping it loses nothing.
        body=(form.get("Body") or "")[: MAX_BODY * 2].replace("\x00", ""),
        num_media=num_media,
    )
