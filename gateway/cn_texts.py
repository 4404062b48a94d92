"""Members' texts a mainland provider pushed: the same conversation as /sms, answered by SMS.

Alibaba Cloud and Tencent Cloud push a member's text to us and want only an acknowledgement;
our answer is a new outbound template SMS. The push route stores each text (models.push) and
hands it on here through a job on the high queue (`workers.pushes.handle_pushed_text`), so
the provider is answered at once. Here the text goes through `gateway.sms.receive_sms`, the
webhook's own function (stored, understood, carried out, with the same fallbacks), and the
reply is queued in the same transaction as an essential row (a member who texts TD still
gets the confirmation), sent at once ahead of bulk sends. The push is then marked handled; a
text that was handled before (the provider pushed it twice under two keys) is stored once,
by its message id.
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.cn_push import EXTENSION_KEY
from gateway.inbound import InboundSms
from gateway.sms import hand_on, receive_sms
from infra.db import get_session, write_gate, write_gate_timeout
from models import Member, Message, ProviderPush, utcnow
from models.outbox import TEMPLATE_RULES_KEY, queue_sms
from models.sms_templates import TemplateRules
from models.sql import Raw
from workers.pushes import HANDLER_KEY


def init_app(app: Flask) -> None:
    """Let the workers' job carry out pushed texts with this module's handler."""
    app.extensions[HANDLER_KEY] = answer_pushed_text


def answer_pushed_text(push_id: int) -> str:
    """Carry out one pushed text and queue its reply; say what became of it."""
    session = get_session()
    push = session.get(ProviderPush, push_id)
    if push is None or push.handled_at is not None:
        return "nothing"
    feed = current_app.extensions[EXTENSION_KEY].get((push.provider, push.feed))
    if feed is None or not hasattr(feed, "pushed_text"):
        return "nothing"
    text = feed.pushed_text(push)
    provider, key = push.provider, push.key
    session.rollback()  # nothing read here is written; the work below has its own transaction
    inbound = InboundSms(
        sid=f"{provider}:{key}"[:64], sender=text.phone, to="", body=text.text, num_media=0
    )
    now = utcnow()
    rules = TemplateRules.from_config(current_app.config)
    engine = current_app.extensions["db_engine"]
    with engine.connect() as connection:
        raw = Raw.of(connection)
        with write_gate().hold(write_gate_timeout()):
            connection.begin()
            raw.begin_write()
            try:
                _, done = receive_sms(connection, raw, inbound, now)
                with Session(bind=connection, info={TEMPLATE_RULES_KEY: rules}) as work:
                    member = work.get(Member, done.member_id) if done.member_id else None
                    reply = queue_sms(
                        work,
                        template_key=done.reply.template_key,
                        params=dict(done.reply.params),
                        member=member,
                        phone=text.phone,
                        essential=True,
                        at=now,
                    )
                    done.outbox_ids.insert(0, reply.id)
                    _mark_handled(work, push_id, inbound.sid, now)
                    work.flush()
                connection.commit()
            except (IntegrityError, raw.integrity_error):
                connection.rollback()  # this text is stored already: it was answered then
                connection.begin()
                with Session(bind=connection) as work:
                    _mark_handled(work, push_id, inbound.sid, now)
                    work.flush()
                connection.commit()
                return "seen"
            except BaseException:
                connection.rollback()
                raise
    hand_on(done)
    return "answered"


def _mark_handled(session: Session, push_id: int, sid: str, now: object) -> None:
    message_id = session.scalar(select(Message.id).where(Message.provider_sid == sid))
    session.execute(
        update(ProviderPush)
        .where(ProviderPush.id == push_id, ProviderPush.handled_at.is_(None))
        .values(handled_at=now, message_id=message_id)
        .execution_options(synchronize_session=False)
    )


__all__ = ["answer_pushed_text", "init_app"]
