"""Deeds for home by SMS (GX / 贡献 / DEED), through the signed /sms webhook."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Conversation, Deed, DeedStatus, Member, Message
from models.message import Direction
from models.report import Channel
from models.segments import count_segments
from tests.factories import make_member, make_tree
from tests.gateway.test_sms import count, reply_text, sms
from tests.support import TwilioClient


@pytest.fixture
def member(session: Session) -> Member:
    """A member of a branch, working away."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone="+8613800000001")
    session.commit()
    return created


def _deeds(session: Session) -> list[Deed]:
    session.expire_all()
    return list(session.scalars(select(Deed).order_by(Deed.id)))


@pytest.mark.parametrize(
    ("body", "item", "text"),
    [
        ("GX 4 帮同乡王强在东莞找到工作", 4, "帮同乡王强在东莞找到工作"),
        ("gx4帮同乡找到工作", 4, "帮同乡找到工作"),
        ("ＧＸ　５　给村小学捐了图书", 5, "给村小学捐了图书"),
        ("貢獻 1 種植香菇一年收入三萬", 1, "种植香菇一年收入三万"),
        ("贡献，2，做通了弟弟的思想工作", 2, "做通了弟弟的思想工作"),
        ("DEED 3 mentored Li Ming", 3, "mentored Li Ming"),
    ],
)
def test_a_deed_is_kept_and_answered_with_its_item_and_reference(
    twilio: TwilioClient, session: Session, member: Member, body: str, item: int, text: str
) -> None:
    """The reply names the item and the reference, in one segment; the deed waits."""
    reply = reply_text(sms(twilio, member.phone, body))
    [deed] = _deeds(session)
    assert (deed.member_id, deed.item, deed.text) == (member.id, item, text)
    assert deed.status is DeedStatus.PENDING and deed.channel is Channel.SMS
    assert deed.org_id == member.branch_id
    assert f"GX{deed.id}" in reply
    assert count_segments(reply).segments == 1


def test_a_tip_by_sms_waits_under_the_topic_other(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Item 1 is a tip: it waits for approval, in the topic 其他 until the branch sets one."""
    reply_text(sms(twilio, member.phone, "GX 1 东莞电子厂招普工包吃住"))
    [deed] = _deeds(session)
    assert deed.is_tip and deed.topic == "other"


def test_a_deed_without_text_asks_for_it_once(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`GX 4` asks what was done; the next text without a keyword is the deed."""
    asked = reply_text(sms(twilio, member.phone, "GX 4"))
    assert "帮人务工" in asked and "回复" in asked
    assert _deeds(session) == []
    done = reply_text(sms(twilio, member.phone, "帮老乡在深圳找到了工作"))
    [deed] = _deeds(session)
    assert (deed.item, deed.text) == (4, "帮老乡在深圳找到了工作")
    assert f"GX{deed.id}" in done
    assert count(session, Conversation) == 0


def test_a_bare_digit_does_not_answer_what_was_done_and_is_not_asked_again(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A digit after `GX 4` is no deed: the menu, the text kept for the branch, no new ask."""
    reply_text(sms(twilio, member.phone, "GX 4"))
    reply = reply_text(sms(twilio, member.phone, "1"))
    assert "HB" in reply
    assert _deeds(session) == []
    assert count(session, Conversation) == 0
    stored = session.scalar(select(Message).where(Message.body == "1"))
    assert stored is not None and stored.handled is False


@pytest.mark.parametrize("body", ["GX", "GX 9 帮人", "贡献 0 做好事", "DEED 12", "GX 帮人修路"])
def test_an_item_outside_one_to_five_gets_the_list_in_one_segment(
    twilio: TwilioClient, session: Session, member: Member, body: str
) -> None:
    """No item, or one outside 1-5: the five items in one segment, nothing kept as a deed."""
    reply = reply_text(sms(twilio, member.phone, body))
    assert "1致富信息" in reply and "5办好事" in reply
    assert count_segments(reply).segments == 1
    assert _deeds(session) == []
    stored = session.scalar(select(Message).where(Message.direction == Direction.IN))
    assert stored is not None and stored.body == body
    # Words that were no deed wait for the branch to read; a bare GX does not.
    assert stored.handled is (body == "GX")


def test_a_very_long_deed_is_cut_to_what_the_branch_reads(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A text longer than a deed holds is kept whole as a message, and the deed keeps 500."""
    body = "GX 5 " + "修" * 700
    reply_text(sms(twilio, member.phone, body))
    [deed] = _deeds(session)
    assert len(deed.text) == 500
    stored = session.scalar(select(Message).where(Message.direction == Direction.IN))
    assert stored is not None and stored.body == body


def test_a_deed_from_an_unknown_number_is_kept_unmatched(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A stranger's deed is no deed: the text is kept unmatched for the township."""
    reply = reply_text(sms(twilio, "+8613900000099", "GX 4 帮同乡找到工作"))
    assert "未登记" in reply
    assert _deeds(session) == []
    stored = session.scalar(select(Message).where(Message.phone == "+8613900000099"))
    assert stored is not None and stored.member_id is None and stored.handled is False
