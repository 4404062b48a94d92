"""POST /status: Twilio's status callback for the SMS we send.

The five steps: the signature is checked, the form parsed, a sid we do not know or a status
we already have changes nothing, the status moves forward only as the transition table in
models/message.py allows, and the ErrorCode is stored (21610 opts the member out; 21211 and
21614 mark the member's number invalid).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, Response, request
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from gateway.twiml import twilio_signed
from infra.db import get_session
from models import Message, MessageStatus, utcnow
from models.delivery import advance_status, apply_error_code
from models.numbers import parse_int

bp = Blueprint("status", __name__)

# Twilio's MessageStatus values, as our statuses. Twilio's own queued/sending mean it has the
# message, which is what our `sent` says.
TWILIO_STATUSES: dict[str, MessageStatus] = {
    "accepted": MessageStatus.SENT,
    "scheduled": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


def init_app(app: Flask) -> None:
    """Register the status callback."""
    app.register_blueprint(bp)


@dataclass(frozen=True)
class StatusReport:
    """One status callback: which message, its new status, and the error code if any."""

    sid: str
    status: MessageStatus | None
    to: str
    error_code: int | None
    message_id: int | None


def parse_status(form: MultiDict[str, str], args: MultiDict[str, str]) -> StatusReport | None:
    """The callback's fields; None if it names no message."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    if not sid:
        return None
    raw_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    code = (form.get("ErrorCode") or "").strip()
    row_id = (args.get("id") or "").strip()
    return StatusReport(
        sid=sid[:64],
        status=TWILIO_STATUSES.get(raw_status),
        to=(form.get("To") or "").strip(),
        error_code=parse_int(code),
        message_id=parse_int(row_id),
    )


@bp.post("/status")
@twilio_signed
def message_status() -> Response:
    """Move an outbound message's status forward; never back, never twice."""
    report = parse_status(request.form, request.args)
    if report is None or report.status is None:
        return Response(status=204)
    session = get_session()
    row = session.execute(
        select(Message.id, Message.status, Message.member_id, Message.phone).where(
            Message.provider_sid == report.sid
        )
    ).first()
    adopt = False
    if row is None and report.message_id is not None:
        # The callback beat the worker's own write of the sid: the row id in our URL finds it.
        row = session.execute(
            select(Message.id, Message.status, Message.member_id, Message.phone).where(
                Message.id == report.message_id,
                Message.provider_sid.is_(None),
                Message.phone == report.to,
            )
        ).first()
        adopt = row is not None
    if row is None or row.status is report.status:
        return Response(status=204)
    now = utcnow()
    moved = advance_status(
        session,
        row.id,
        report.status,
        at=now,
        error_code=report.error_code,
        provider_sid=report.sid if adopt else None,
    )
    if moved and report.error_code is not None:
        apply_error_code(session, row.member_id, row.phone, report.error_code, now)
    session.commit()
    return Response(status=204)


__all__ = ["TWILIO_STATUSES", "StatusReport", "init_app", "parse_status"]
