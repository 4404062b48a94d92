"""Deeds and the tips board by keypad, through the signed voice webhooks."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Deed, DeedStatus, Member, Message, Recording
from models.call import RecordingKind
from models.deed import TipTopic, decide_deed, record_deed
from models.org import OrgKind
from models.report import Channel
from tests.factories import make_member, make_org, make_tree, make_user
from tests.gateway.test_voice import PHONE, Phone, action, hung_up, said, zh
from tests.support import TwilioClient


@pytest.fixture
def member(session: Session) -> Member:
    """The caller, a member of the east branch."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone=PHONE)
    session.commit()
    return created


def fresh(session: Session) -> Session:
    session.expire_all()
    return session


def test_a_spoken_tip_is_kept_as_a_deed_with_its_recording(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """5, 1 (a tip), 4 (market prices), then spoken: a waiting tip with the recording."""
    phone = Phone(twilio)
    phone.post("/voice")
    assert action(phone.press("/voice/menu/choose", "5")) == "/voice/deed/item"
    assert action(phone.press("/voice/deed/item", "1")) == "/voice/deed/topic"
    assert action(phone.press("/voice/deed/topic", "4")) == "/voice/deed/recorded"
    goodbye = phone.speak("/voice/deed/recorded", duration=25)
    assert said(goodbye) == [zh("deed_done")] and hung_up(goodbye)
    deed = fresh(session).scalars(select(Deed)).one()
    recording = session.get(Recording, deed.recording_id)
    assert recording is not None and recording.kind is RecordingKind.DEED
    assert (deed.member_id, deed.item, deed.topic, deed.channel) == (
        member.id,
        1,
        TipTopic.MARKET,
        Channel.IVR,
    )
    assert deed.status is DeedStatus.PENDING and deed.recording_seconds == 25


def test_a_one_second_recording_is_kept_unoffered_and_asked_again(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A one-second deed is kept but not offered; the second, longer one waits."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "5")
    phone.press("/voice/deed/item", "4")
    again = phone.speak("/voice/deed/recorded", duration=1)
    assert said(again)[0] == zh("deed_too_short")
    assert action(again) == "/voice/deed/recorded"
    phone.speak("/voice/deed/recorded", duration=15)
    deeds = fresh(session).scalars(select(Deed).order_by(Deed.id)).all()
    assert [d.status for d in deeds] == [DeedStatus.UNOFFERED, DeedStatus.PENDING]


def _approved_tip(session: Session, member: Member, text: str, topic: TipTopic) -> Deed:
    author = make_member(session, member.branch)
    deed = record_deed(session, member=author, item=1, text=text, channel=Channel.SMS, topic=topic)
    user = make_user(session, member.branch)
    decide_deed(
        session,
        deed,
        confirm=True,
        reason="",
        user_id=user.id,
        user_member_id=None,
        org_id=member.branch_id,
    )
    session.commit()
    return deed


def test_the_tips_board_plays_counts_and_texts(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """6, 2 (jobs): the newest approved tip, counted; # the next, counted; 0 texts it."""
    older = _approved_tip(session, member, "深圳龙华快递分拣月薪六千", TipTopic.JOBS)
    newer = _approved_tip(session, member, "东莞长安电子厂招普工包吃住", TipTopic.JOBS)
    pending = record_deed(
        session,
        member=member,
        item=1,
        text="还没审核的信息",
        channel=Channel.SMS,
        topic=TipTopic.JOBS,
    )
    session.commit()
    phone = Phone(twilio)
    phone.post("/voice")
    assert action(phone.press("/voice/menu/choose", "6")) == "/voice/tips/topic"
    first = phone.press("/voice/tips/topic", "2")
    assert "东莞长安电子厂招普工包吃住" in said(first)
    assert "还没审核的信息" not in " ".join(said(first))
    second = phone.press("/voice/tips/after", "#")
    assert "深圳龙华快递分拣月薪六千" in said(second)
    phone.press("/voice/tips/after", "0")
    fresh(session)
    assert session.get(Deed, newer.id).listens == 1  # type: ignore[union-attr]
    assert session.get(Deed, older.id).listens == 1  # type: ignore[union-attr]
    assert session.get(Deed, pending.id).listens == 0  # type: ignore[union-attr]
    texted = session.scalars(select(Message).where(Message.template_key == "tip_text")).one()
    assert texted.member_id == member.id
    assert texted.body == f"致富信息GX{older.id},内容:深圳龙华快递分拣月薪六千"
    # The tips of another township are not on this board.
    far = make_org(session, "远山镇", OrgKind.TOWNSHIP)
    stranger = make_member(session, make_org(session, "远山村党支部", OrgKind.BRANCH, far))
    far_tip = record_deed(session, member=stranger, item=1, text="外镇信息", channel=Channel.SMS)
    decide_deed(
        session,
        far_tip,
        confirm=True,
        reason="",
        user_id=make_user(session, far).id,
        user_member_id=None,
        org_id=far.id,
    )
    session.commit()
    again = Phone(twilio)
    again.post("/voice")
    again.press("/voice/menu/choose", "6")
    other_topic = said(again.press("/voice/tips/topic", "5"))
    assert "外镇信息" not in " ".join(other_topic) and other_topic[0] == zh("tips_none")


def test_tip_board_listens_reach_the_review(session: Session, member: Member) -> None:
    """A tip's listens are kept on the tip: the count the review and the township read."""
    tip = _approved_tip(session, member, "信息", TipTopic.OTHER)
    from models.deed import count_listen

    for _ in range(3):
        count_listen(session, tip.id)
    session.commit()
    assert fresh(session).get(Deed, tip.id).listens == 3  # type: ignore[union-attr]
