"""POST /sms: Twilio's inbound SMS webhook."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import cast

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from gateway.conversation import Context, Reply, handle_sms, handle_unmatched
from gateway.db import get_session
from gateway.inbound import BadWebhook, InboundSms, parse_inbound_sms
from gateway.keywords import parse
from gateway.twiml import twilio_signed, twiml
from models import Conversation, Direction, Member, Message, MessageStatus, try_normalize, utcnow
from models.broadcast import recent_broadcast_for

bp = Blueprint("sms", __name__)

# Built once: the webhook runs these on every message, and building a statement costs more
# than SQLite takes to answer it.
_messages = cast(Table, Message.__table__)
SEEN = select(_messages.c.id, _messages.c.reply_body).where(
    _messages.c.provider_sid == bindparam("sid")
)
STORE = insert(_messages)
SENDER = (
    select(Member, Conversation)
    .outerjoin(Conversation, Conversation.member_id == Member.id)
    .where(Member.phone == bindparam("phone"))
)


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
    seen = session.execute(SEEN, {"sid": inbound.sid}).first()
    if seen is not None:
        return _reply(seen.reply_body)
    # A unique key can fail at commit: the same MessageSid stored by a concurrent request, or
    # two texts of one member handled at once (both creating this month's report, say). The
    # second try sees the other's rows; failing again, the text is still stored, with the menu.
    for handle in (True, True, False):
        try:
            text, jobs = receive_sms(session, inbound, utcnow(), handle=handle)
            session.commit()
            break
        except IntegrityError:
            session.rollback()
            stored = session.execute(SEEN, {"sid": inbound.sid}).first()
            if stored is not None:
                return _reply(stored.reply_body)
    else:  # pragma: no cover - storing alone conflicts only on the MessageSid, caught above
        raise RuntimeError(f"could not store SMS {inbound.sid}")
    if jobs.outbox_ids or jobs.callback_ids:
        _hand_on(jobs)
    return _reply(text)


def receive_sms(
    session: Session, inbound: InboundSms, now: datetime, *, handle: bool = True
) -> tuple[str, Reply]:
    """Store an inbound SMS and (unless `handle` is False) act on it; commit is the caller's.

    Returns the reply text and the reply, whose outbox rows and callbacks go to the workers. The message row is written with the
    rest of the transaction, so SQLite's write lock is held for one short burst at commit.
    If handling fails, its work is rolled back and the text is still stored, with the menu.
    """
    config = current_app.config
    phone = _normalize_sender(inbound.sender, config["DEFAULT_REGION"])
    row = session.execute(SENDER, {"phone": phone}).first()
    member, conversation = (row[0], row[1]) if row is not None else (None, None)
    member_id = member.id if member is not None else None
    language = member.language.value if member is not None else None
    # Read before handling adds rows, so the query costs no extra flush. Storing alone (the
    # last resort) leaves the link out, in case the link is what failed.
    broadcast_id = (
        recent_broadcast_for(session, member_id, now) if member_id is not None and handle else None
    )
    reply = Reply("menu", handled=False, command="error")
    if handle:
        try:
            if member is None:
                reply, confirmed = handle_unmatched(
                    session, phone, command=parse(inbound.body), now=now
                )
                if confirmed is not None:  # the code from a new phone: now it is this member's
                    member_id, language = confirmed.id, confirmed.language.value
                    broadcast_id = recent_broadcast_for(session, member_id, now)
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
                    parse(inbound.body),
                )
        except IntegrityError:
            raise  # a concurrent text of the same member: the webhook tries again
        except Exception:
            # Whatever went wrong, the text is kept for the branch and the member gets the menu.
            current_app.logger.exception("handling SMS %s failed", inbound.sid)
            session.rollback()
            reply = Reply("menu", handled=False, command="error")
            if member is None:
                member_id = broadcast_id = language = None
    reply_body = reply.render(language)
    # A plain INSERT: the row is needed by no one in this request, so no ORM object is made.
    session.execute(
        STORE,
        {
            "direction": Direction.IN,
            "member_id": member_id,
            "phone": phone,
            "body": inbound.body,
            "provider_sid": inbound.sid,
            "status": MessageStatus.RECEIVED,
            "command": reply.command,
            "handled": reply.handled,
            "reply_body": reply_body,
            "broadcast_id": broadcast_id,
            "created_at": now,
        },
    )
    return reply_body, reply


@lru_cache(maxsize=16384)
def _normalize_sender(sender: str, region: str) -> str:
    # Members text again and again from the same numbers; parsing one costs ~0.1 ms.
    return try_normalize(sender, region) or sender


def _hand_on(jobs: Reply) -> None:
    """Give the committed work to the workers; if Redis is down the periodic sweeps do it."""
    try:
        from workers.callbacks import place_callback_soon
        from workers.sending import enqueue_many

        enqueue_many(jobs.outbox_ids)
        for callback_id in jobs.callback_ids:
            place_callback_soon(callback_id)
    except Exception:  # Redis down or slow: the reply must not wait; the rows are in the database
        current_app.logger.warning(
            "could not enqueue %s / %s; the sweeps will", jobs.outbox_ids, jobs.callback_ids
        )
