"""POST /sms: Twilio's inbound SMS webhook."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from gateway.inbound import BadWebhook, InboundSms, parse_inbound_sms
from gateway.twiml import message_twiml, twilio_signed
from infra.clients import provider
from infra.db import write_gate, write_gate_timeout
from models import try_normalize, utcnow
from models.inbound import Sender, find_sender, store_inbound, stored_reply
from models.sql import Raw
from sms_flows.conversation import Reply
from sms_flows.effects import Context, Done, handle_sms
from sms_flows.keywords import Command, parse

bp = Blueprint("sms", __name__)


def init_app(app: Flask) -> None:
    """Register the SMS webhook."""
    app.register_blueprint(bp)


@bp.post("/sms")
@twilio_signed
def inbound_sms() -> Response:
    """Store the message, act on it, and answer with one SMS in the member's language."""
    try:
        inbound = parse_inbound_sms(request.form)
    except BadWebhook as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    engine = current_app.extensions["db_engine"]
    with engine.connect() as connection:
        raw = Raw.of(connection)
        # A replayed MessageSid fails the message's unique key as the text is stored, last in
        # the transaction: all of it is rolled back and the stored reply given again. So does
        # a retry racing its original, stored meanwhile by another worker. Other conflicts get
        # a second try, which sees the other's rows; after that the text is stored alone.
        conflict = (IntegrityError, raw.integrity_error)
        for handle in (True, True, False):
            try:
                with write_gate().hold(write_gate_timeout()):
                    connection.begin()
                    raw.begin_write()
                    try:
                        reply_body, jobs = receive_sms(
                            connection, raw, inbound, utcnow(), handle=handle
                        )
                        connection.commit()
                    except BaseException:
                        connection.rollback()
                        raise
                break
            except conflict:
                seen, stored_body = stored_reply(raw, inbound.sid)
                if seen:
                    return message_twiml(stored_body)
        else:  # pragma: no cover - storing alone conflicts only on the MessageSid, caught above
            raise RuntimeError(f"could not store SMS {inbound.sid}")
    if jobs.outbox_ids or jobs.callback_ids:
        hand_on(jobs)
    return message_twiml(reply_body)


def receive_sms(
    connection: Connection, raw: Raw, inbound: InboundSms, now: datetime, *, handle: bool = True
) -> tuple[str, Done]:
    """Store an inbound SMS and (unless `handle` is False) act on it; commit is the caller's.

    Returns the reply text and what was done, whose outbox rows and callbacks go to the
    workers. If handling fails, its work is rolled back and the text is still stored, with
    the menu.
    """
    # Members' phones are stored in E.164, as Twilio sends From: a number found as it came is
    # in that form already. Only others are normalized (parsing one costs ~0.1 ms).
    phone = inbound.sender
    sender = find_sender(raw, phone, now)
    if sender is None:
        phone = _normalize_sender(phone, current_app.config["DEFAULT_REGION"])
        if phone != inbound.sender:
            sender = find_sender(raw, phone, now)
    done: Done | None = None
    if handle:
        try:
            done = _act(connection, raw, phone, sender, parse(inbound.body), now)
        except (IntegrityError, raw.integrity_error):
            raise  # a concurrent text of the same member: the webhook tries again
        except Exception:
            # Whatever went wrong, the text is kept for the branch and the member gets the menu.
            current_app.logger.exception("handling SMS %s failed", inbound.sid)
            connection.rollback()
            connection.begin()
            raw.begin_write()
    if done is None:
        done = _failed(sender)
    reply_body = done.reply.render(done.language)
    store_inbound(
        raw,
        sid=inbound.sid,
        phone=phone,
        body=inbound.body,
        member_id=done.member_id,
        broadcast_id=done.broadcast_id,
        command=done.command,
        handled=done.handled,
        reply_body=reply_body,
        at=now,
    )
    return reply_body, done


def _failed(sender: Sender | None) -> Done:
    """A text not carried out (or not to be): kept for the branch, answered with the menu."""
    member_id, language = (sender.id, sender.language) if sender is not None else (None, None)
    return Done(Reply("menu"), "error", handled=False, member_id=member_id, language=language)


def _act(
    connection: Connection,
    raw: Raw,
    phone: str,
    sender: Sender | None,
    command: Command,
    now: datetime,
) -> Done:
    """Carry out a text of a member, or of a number no member has (sms_flows.effects)."""
    config = current_app.config
    context = Context(
        raw=raw,
        connection=connection,
        phone=phone,
        sender=sender,
        now=now,
        ttl_hours=config["CONVERSATION_TTL_HOURS"],
        region=config["DEFAULT_REGION"],
        callbacks_per_day=config["CALLBACKS_PER_DAY"],
        lesson_playback=provider().lesson_playback,
    )
    try:
        return handle_sms(context, command)
    finally:
        context.release()


@lru_cache(maxsize=4096)
def _normalize_sender(sender: str, region: str) -> str:
    return try_normalize(sender, region) or sender


def hand_on(jobs: Done) -> None:
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
