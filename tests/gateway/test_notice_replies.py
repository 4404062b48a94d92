"""Which texts answer a notice, through the real /sms webhook with signed requests.

The rule (sms_flows.conversation._notice_reply, models.broadcast.notice_awaiting_reply): a text
with no keyword answers the newest notice that asked for answers (回复 / reply) and reached the
member in the last three days, unless a question asked after that notice is open. Keyword
commands are carried out as commands. A reply is kept with its notice and thanked, not sent
the menu; every other text is an ordinary inbox text.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Broadcast,
    Conversation,
    Direction,
    Member,
    Message,
    MessageStatus,
    Report,
    utcnow,
)
from models.templates import render
from tests.factories import make_member, make_tree
from tests.gateway.test_sms import reply_text, sms
from tests.support import TwilioClient

ASKING = "本周六上午开党员大会,能参加请回复1,不能参加请回复2"
TELLING = "明天上午村里停电,请家人做好准备"


@pytest.fixture
def member(session: Session) -> Member:
    """A member of a branch in Guangzhou at an electronics factory."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone="+8613800000001")
    session.commit()
    return created


def send_notice(session: Session, member: Member, text: str, *, at: datetime) -> Broadcast:
    """A notice delivered to the member at `at` (the outbox row as the workers leave it)."""
    notice = Broadcast(org_id=member.branch_id, text=text, target={}, created_at=at)
    session.add(notice)
    session.flush()
    session.add(
        Message(
            direction=Direction.OUT,
            member_id=member.id,
            phone=member.phone,
            body=text,
            template_key="broadcast",
            status=MessageStatus.DELIVERED,
            broadcast_id=notice.id,
            created_at=at,
            sent_at=at,
        )
    )
    session.commit()
    return notice


def inbound(session: Session, body: str) -> Message:
    """The stored inbound text with this body."""
    session.expire_all()
    found = session.scalar(
        select(Message).where(Message.direction == Direction.IN, Message.body == body)
    )
    assert found is not None
    return found


@pytest.mark.parametrize("body", ["1", "2", "收到,我周六回不去", "OK"])
def test_an_answer_to_a_notice_is_kept_with_it_and_thanked(
    twilio: TwilioClient, session: Session, member: Member, body: str
) -> None:
    """A text with no keyword after a notice asking for answers is that notice's reply: kept
    unhandled for the branch, linked to the notice, and thanked instead of given the menu."""
    notice = send_notice(session, member, ASKING, at=utcnow() - timedelta(hours=2))
    text = reply_text(sms(twilio, member.phone, body))
    assert text == render("notice_reply_ack", "zh_CN")
    stored = inbound(session, body)
    assert stored.broadcast_id == notice.id
    assert stored.handled is False and stored.command == "notice"


def test_a_text_after_a_notice_that_asks_nothing_is_an_ordinary_text(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """After a notice that asks for no answer, an unknown text stays in the texts tab."""
    send_notice(session, member, TELLING, at=utcnow() - timedelta(hours=2))
    text = reply_text(sms(twilio, member.phone, "老板跑了工资没发"))
    assert text == render("menu", "zh_CN")
    stored = inbound(session, "老板跑了工资没发")
    assert stored.broadcast_id is None and stored.handled is False


def test_a_text_more_than_three_days_after_the_notice_is_not_a_reply(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The notice's answers are awaited for three days from when it reached the member."""
    send_notice(session, member, ASKING, at=utcnow() - timedelta(days=3, hours=1))
    reply_text(sms(twilio, member.phone, "收到"))
    assert inbound(session, "收到").broadcast_id is None


def test_a_question_asked_after_the_notice_takes_the_answer(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`HB` after the notice asks a question: its `1` is a report, not the notice's answer."""
    send_notice(session, member, ASKING, at=utcnow() - timedelta(hours=2))
    reply_text(sms(twilio, member.phone, "HB"))
    reply_text(sms(twilio, member.phone, "1"))
    stored = inbound(session, "1")
    assert stored.broadcast_id is None and stored.command == "report"
    assert stored.handled is True


def test_a_notice_sent_after_a_question_is_the_question_last_asked(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A reminder's question asked before the notice gives way: `2` answers the notice."""
    session.add(
        Conversation(
            member_id=member.id,
            topic="report",
            step="studied",
            data={},
            expires_at=utcnow() + timedelta(days=2),
            updated_at=utcnow() - timedelta(hours=5),
        )
    )
    session.commit()
    notice = send_notice(session, member, ASKING, at=utcnow() - timedelta(hours=1))
    assert reply_text(sms(twilio, member.phone, "2")) == render("notice_reply_ack", "zh_CN")
    assert inbound(session, "2").broadcast_id == notice.id
    assert session.scalar(select(Report)) is None


def test_keyword_commands_and_unclear_texts_are_not_replies(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A keyword is carried out; a text of punctuation only is unclear and gets the menu."""
    send_notice(session, member, ASKING, at=utcnow() - timedelta(hours=2))
    assert "QZ" in reply_text(sms(twilio, member.phone, "QZ 1 工资拖欠"))
    assert reply_text(sms(twilio, member.phone, "。。。")) == render("menu", "zh_CN")
    assert inbound(session, "QZ 1 工资拖欠").broadcast_id is None
    assert inbound(session, "。。。").broadcast_id is None


def test_the_newest_notice_asking_for_answers_is_the_one_answered(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Of two notices asking for answers the later is answered; one asking nothing is skipped."""
    send_notice(session, member, "五一放假安排,收到请回复", at=utcnow() - timedelta(days=2))
    latest = send_notice(session, member, ASKING, at=utcnow() - timedelta(hours=3))
    send_notice(session, member, TELLING, at=utcnow() - timedelta(hours=1))
    reply_text(sms(twilio, member.phone, "能参加"))
    assert inbound(session, "能参加").broadcast_id == latest.id


def test_an_english_member_is_thanked_in_english(twilio: TwilioClient, session: Session) -> None:
    """The acknowledgement is a template in the member's language, one segment."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, phone="+8613800000002", language="en")
    session.commit()
    send_notice(session, member, "Meeting on Saturday: reply 1 to attend", at=utcnow())
    assert reply_text(sms(twilio, member.phone, "1")) == render("notice_reply_ack", "en")
