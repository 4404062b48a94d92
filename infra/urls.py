"""The addresses we give the provider to call us back at, built from PUBLIC_BASE_URL.

Each names our own row (the message or call id), so a callback that arrives before the worker
has stored the provider's sid still finds its row. Webhook signatures are checked against the
same base URL.
"""

from __future__ import annotations

from flask import current_app


def _base() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"])


def sms_status_url(message_id: int) -> str:
    """The StatusCallback of an outbound text: /status with the row id."""
    return f"{_base()}/status?id={message_id}"


def call_twiml_url(call_id: int) -> str:
    """Where the provider fetches an outbound call's TwiML from (the Call row's id)."""
    return f"{_base()}/voice/outbound?call={call_id}"


def call_status_url(call_id: int | None = None) -> str:
    """The status callback of a call; a call we place names its Call row."""
    base = f"{_base()}/voice/status"
    return base if call_id is None else f"{base}?call={call_id}"


__all__ = ["call_status_url", "call_twiml_url", "sms_status_url"]
