"""The open SMS question as the webhook reads it: a stored question it cannot read is none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models import Conversation, Direction, Member, Message, Report, utcnow
from models.templates import render
from tests.factories import make_member, make_tree
from tests.gateway.test_sms import reply_text, sms
from tests.support import TwilioClient


@pytest.fixture
def member(session: Session) -> Member:
    """A member of a branch."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone="+8613800000001")
    session.commit()
    return created


def _store(session: Session, member: Member, topic: str, step: str, data: str) -> None:
    """A conversation row as some earlier version (or a hand edit) may have left it."""
    session.execute(
        text(
            "INSERT INTO conversations (member_id, topic, step, data, expires_at, updated_at) "
            "VALUES (:member_id, :topic, :step, :data, :expires_at, :at)"
        ),
        {
            "member_id": member.id,
            "topic": topic,
            "step": step,
            "data": data,
            "expires_at": (utcnow() + timedelta(days=2)).replace(tzinfo=None),
            "at": utcnow().replace(tzinfo=None),
        },
    )
    session.commit()


@pytest.mark.parametrize(
    ("topic", "step", "data"),
    [
        ("status", "details", "{}"),  # a step of another topic
        ("help", "details", '{"request": "seven"}'),  # a request id that is not one
        ("help", "details", "{}"),  # details without their request
        ("report", "same", '{"studied": "yes"}'),
    ],
)
def test_an_unreadable_question_counts_as_none(
    twilio: TwilioClient, session: Session, member: Member, topic: str, step: str, data: Any
) -> None:
    """A bare `1` is told there is no open question (never a 500); a command still works and
    its new question replaces the unreadable one."""
    _store(session, member, topic, step, data)
    assert reply_text(sms(twilio, member.phone, "1")) == render("answer_no_question", "zh_CN")
    assert session.scalar(select(Report)) is None
    reply_text(sms(twilio, member.phone, "HB"))
    reply_text(sms(twilio, member.phone, "2"))
    session.expire_all()
    report = session.scalar(select(Report))
    assert report is not None and report.studied is False
    conversation = session.scalar(select(Conversation))
    assert conversation is not None
    assert (conversation.topic, conversation.step, conversation.data) == (
        "report",
        "same",
        {"studied": False},
    )
    handled = session.scalars(
        select(Message.handled).where(Message.direction == Direction.IN).order_by(Message.id)
    ).all()
    assert handled == [False, True, True]
