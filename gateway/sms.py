"""POST /sms: Twilio's inbound SMS webhook."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from gateway.conversation import Context, Reply, handle_sms, handle_unmatched
from gateway.db import get_session
from gateway.inbound import BadWebhook, InboundSms, parse_inbound_sms
from gateway.keywords import parse
from gateway.twiml import twilio_signed, twiml
from models import Conversation, Direction, Member, Message, MessageStatus, try_normalize, utcnow

bp = Blueprint("sms", __name__)


def init_app(app: Flask) -> None:
    """Register the SMS webhook."""
    app.register_blueprint(bp)


def _reply(text: str | None) -> Response:
    response = MessagingResponse()
    if text:
        response.message(text)
    return twiml(response)


@bp.post("/sms")
@twilio_signed
def inbound_sms() -> Response:
    """Store the message, act on it, and answer with one SMS in the member's language."""
    try:
        inbound = parse_inbound_sms(request.form)
    except BadWebhook as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    session = get_session()
    seen = session.execute(
        select(Message.id, Message.reply_body).where(Message.provider_sid == inbound.sid)
    ).first()
    if seen is not None:
        return _reply(seen.reply_body)
    try:
        text, outbox_ids = receive_sms(session, inbound, utcnow())
        session.commit()
    except IntegrityError:
        # The same MessageSid arrived twice at once: the other request stored it.
        session.rollback()
        stored = session.scalar(
            select(Message.reply_body).where(Message.provider_sid == inbound.sid)
        )
        return _reply(stored)
    if outbox_ids:
        _send_soon(outbox_ids)
    return _reply(text)


def receive_sms(session: Session, inbound: InboundSms, now: datetime) -> tuple[str, list[int]]:
    """Store an inbound SMS and handle it; returns the reply text and outbox rows to send."""
    config = current_app.config
    phone = try_normalize(inbound.sender, config["DEFAULT_REGION"]) or inbound.sender
    row = session.execute(
        select(Member, Conversation)
        .outerjoin(Conversation, Conversation.member_id == Member.id)
        .where(Member.phone == phone)
    ).first()
    member, conversation = (row[0], row[1]) if row is not None else (None, None)
    message = Message(
        direction=Direction.IN,
        member_id=member.id if member else None,
        phone=phone,
        body=inbound.body,
        provider_sid=inbound.sid,
        status=MessageStatus.RECEIVED,
        created_at=now,
    )
    session.add(message)
    session.flush()  # the message is stored before anything is done with it
    command = parse(inbound.body)
    try:
        with session.begin_nested():
            if member is None:
                reply, member = handle_unmatched(session, phone, command, now)
                if member is not None:
                    message.member_id = member.id
            else:
                reply = handle_sms(
                    Context(
                        session=session,
                        member=member,
                        conversation=conversation,
                        now=now,
                        ttl_hours=config["CONVERSATION_TTL_HOURS"],
                        region=config["DEFAULT_REGION"],
                    ),
                    command,
                )
    except Exception:
        # Whatever went wrong, the text is kept for the branch and the member gets the menu.
        current_app.logger.exception("handling SMS %s failed", inbound.sid)
        reply = Reply("menu", handled=False, command="error")
    if member is not None and member.id == message.member_id:
        _link_broadcast(session, message, now)
    language = member.language.value if member is not None else None
    message.command = reply.command
    message.handled = reply.handled
    message.reply_body = reply.render(language)
    return message.reply_body, reply.outbox_ids


def _link_broadcast(session: Session, message: Message, now: datetime) -> None:
    try:
        from models.broadcast import recent_broadcast_for
    except ImportError:  # pragma: no cover - broadcasts not installed
        return
    if message.member_id is not None:
        message.broadcast_id = recent_broadcast_for(session, message.member_id, now)


def _send_soon(message_ids: list[int]) -> None:
    """Hand outbox rows to the sender; if Redis is down the periodic sweep sends them."""
    try:
        from workers.sending import enqueue_many

        enqueue_many(message_ids)
    except Exception:  # Redis down or slow: the reply must not wait, the outbox keeps the row
        current_app.logger.warning("could not enqueue %s; the sweep will send them", message_ids)
