"""POST /status: Twilio's status callback for the SMS we send.

The signature is checked, the Twilio provider reads the form into a Receipt (its statuses and
ErrorCode in the domain's words), and models.delivery.record_receipt applies it: a sid we do
not know or a status we already have changes nothing, the status moves forward only as the
transition table in models/message.py allows, and a failure about the recipient (opted out
at the carrier, an invalid number) acts on the member.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request

from gateway.twiml import twilio_signed
from infra.db import get_session
from infra.providers.twilio import sms_receipt
from models import utcnow
from models.delivery import record_receipt

bp = Blueprint("status", __name__)


def init_app(app: Flask) -> None:
    """Register the status callback."""
    app.register_blueprint(bp)


@bp.post("/status")
@twilio_signed
def message_status() -> Response:
    """Move an outbound message's status forward; never back, never twice."""
    receipt = sms_receipt(request.form, request.args)
    if receipt is None:
        return Response(status=204)
    session = get_session()
    if record_receipt(session, receipt, utcnow()):
        session.commit()
    return Response(status=204)


__all__ = ["init_app"]
