"""Rows stuck in `sending` are settled against the provider, never blindly sent again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import clients
from infra.providers import OutboundSms
from infra.providers.twilio import build_twilio
from models import Member, Message, MessageStatus, utcnow
from models.outbox import queue_sms
from tests.factories import make_member
from tests.gateway.sandbox_api import SandboxAPI
from tests.workers.jobs import sent_to
from workers.reconcile import reconcile_stuck


def _stuck(session: Session, member: Member, text: str, minutes_ago: int = 5) -> int:
    """A row a worker claimed and then died on."""
    message = queue_sms(session, template_key="broadcast", params={"text": text}, member=member)
    session.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(
            status=MessageStatus.SENDING,
            attempts=1,
            claimed_at=utcnow() - timedelta(minutes=minutes_ago),
            created_at=utcnow() - timedelta(minutes=minutes_ago),
        )
    )
    session.commit()
    return message.id


def test_a_message_the_provider_has_is_adopted_not_sent_again(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """The worker died after the provider took it: the row takes that sid and nothing is resent."""
    member = make_member(session)
    message_id = _stuck(session, member, "已经发出")
    accepted = clients.provider().send_sms(OutboundSms(message_id, member.phone, "已经发出"))
    assert reconcile_stuck() == {"adopted": 1, "requeued": 0, "waiting": 0, "unreachable": 0}
    work()
    session.expire_all()
    row = session.get(Message, message_id)
    assert row is not None
    assert (row.provider_sid, row.status) == (accepted.sid, MessageStatus.DELIVERED)
    assert len(sent_to(sandbox, member.phone)) == 1


def test_a_message_the_provider_never_got_is_queued_and_sent_once(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """The worker died before the provider answered: the row is queued again and sent once."""
    member = make_member(session)
    message_id = _stuck(session, member, "还没发出")
    assert reconcile_stuck()["requeued"] == 1
    work()
    session.expire_all()
    row = session.get(Message, message_id)
    assert row is not None
    assert (row.status, row.attempts) == (MessageStatus.SENT, 1)
    assert [m["body"] for m in sent_to(sandbox, member.phone)] == ["还没发出"]


def test_two_stuck_rows_with_one_body_share_no_sid(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """Two identical rows to one number, one of them at the provider: one adopted, one resent."""
    member = make_member(session)
    ids = [_stuck(session, member, "同样的话"), _stuck(session, member, "同样的话")]
    clients.provider().send_sms(OutboundSms(ids[0], member.phone, "同样的话"))
    assert reconcile_stuck() == {"adopted": 1, "requeued": 1, "waiting": 0, "unreachable": 0}
    work()
    session.expire_all()
    sids = session.scalars(select(Message.provider_sid).where(Message.id.in_(ids))).all()
    assert len(set(sids)) == 2 and None not in sids
    assert len(sent_to(sandbox, member.phone)) == 2


def test_recent_rows_are_left_to_their_worker(session: Session, sandbox: SandboxAPI) -> None:
    """A row claimed a moment ago may still be on its way: reconciliation waits."""
    member = make_member(session)
    message_id = _stuck(session, member, "刚刚认领", minutes_ago=0)
    assert reconcile_stuck() == {"adopted": 0, "requeued": 0, "waiting": 0, "unreachable": 0}
    session.expire_all()
    assert session.get(Message, message_id).status is MessageStatus.SENDING  # type: ignore[union-attr]


def test_an_unreachable_provider_leaves_the_row_in_sending(
    app: Flask, session: Session, sandbox: SandboxAPI
) -> None:
    """If the provider cannot be asked, nothing is guessed: the row waits for the next run."""
    member = make_member(session)
    message_id = _stuck(session, member, "问不到")
    app.extensions["provider"] = build_twilio(
        kind="sandbox",
        account_sid="AC" + "0" * 32,
        auth_token="x",
        from_number="+8610690000",
        sandbox_url="http://127.0.0.1:9",
        timeout=1.0,
    )
    assert reconcile_stuck()["unreachable"] == 1
    session.expire_all()
    assert session.get(Message, message_id).status is MessageStatus.SENDING  # type: ignore[union-attr]
