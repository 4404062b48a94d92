"""Conversations that take more than one text, through the real /sms webhook: the answers a
question offers, a move to another city, and a help request with its details."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    ChangeField,
    ContactKind,
    ContactLog,
    Direction,
    HelpCategory,
    HelpRequest,
    HelpStatus,
    Member,
    MemberChange,
    Message,
    OrgKind,
    Report,
)
from models.segments import count_segments
from models.templates import render
from tests.factories import make_member, make_org, make_tree
from tests.gateway.test_sms import reply_text, sms
from tests.support import TwilioClient


@pytest.fixture
def member(session: Session) -> Member:
    """A member in Guangzhou (Guangdong) at an electronics factory, attached to a host there."""
    _, branch, _ = make_tree(session)
    host = make_org(session, "广州白云区流动党支部", OrgKind.HOST, city="广州市")
    created = make_member(
        session, branch, name="王建国", phone="+8613800000001", province="广东", host_org_id=host.id
    )
    session.commit()
    return created


def fresh(session: Session, member: Member) -> Member:
    """The member as stored now."""
    session.expire_all()
    found = session.get(Member, member.id)
    assert found is not None
    return found


def stored(session: Session, body: str) -> Message:
    """The inbound text with this body."""
    session.expire_all()
    found = session.scalar(
        select(Message).where(Message.direction == Direction.IN, Message.body == body)
    )
    assert found is not None
    return found


# --- the question "still in ...?" --------------------------------------------------------


def test_two_to_still_there_asks_for_the_new_place(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`还在广州电子厂吗?回复1是;变了...` answered `2` asks where, and the place is recorded."""
    reply_text(sms(twilio, member.phone, "HB"))
    assert "还在广州电子厂吗" in reply_text(sms(twilio, member.phone, "1"))
    asked = reply_text(sms(twilio, member.phone, "2"))
    assert asked == render("report_ask_place", "zh_CN")
    assert stored(session, "2").handled is True
    done = reply_text(sms(twilio, member.phone, "Shenzhen 富士康"))
    report = session.scalar(select(Report))
    assert report is not None and report.receipt in done
    assert (report.city, report.employer, report.studied) == ("深圳", "富士康", True)
    assert (fresh(session, member).city, fresh(session, member).employer) == ("深圳", "富士康")


def test_unchanged_in_words_keeps_the_place(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`没变` to "still in ...?" confirms the place; it is never taken for a new employer."""
    reply_text(sms(twilio, member.phone, "HB"))
    reply_text(sms(twilio, member.phone, "2"))
    done = reply_text(sms(twilio, member.phone, "没变。"))
    report = session.scalar(select(Report))
    assert report is not None and report.receipt in done and report.same_city is True
    assert (fresh(session, member).city, fresh(session, member).employer) == ("广州", "电子厂")


def test_a_wrong_answer_to_still_there_is_told_what_to_send(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`3` to "still in ...?" is not met with `请回复1或2` but with what the question takes."""
    reply_text(sms(twilio, member.phone, "HB"))
    reply_text(sms(twilio, member.phone, "1"))
    again = reply_text(sms(twilio, member.phone, "3"))
    assert again == render("report_same_invalid", "zh_CN")
    assert "1或2" not in again and count_segments(again).segments == 1


@pytest.mark.parametrize("city", ["shenzhen", "Guangzhou", "Beijing", "DONGGUAN"])
def test_a_city_in_pinyin_is_a_city(
    twilio: TwilioClient, session: Session, member: Member, city: str
) -> None:
    """`DT shenzhen` moves the member to 深圳; the employer is left as it was."""
    reply_text(sms(twilio, member.phone, f"DT {city}"))
    moved = fresh(session, member)
    names = {"shenzhen": "深圳", "Guangzhou": "广州", "Beijing": "北京", "DONGGUAN": "东莞"}
    assert moved.city == names[city] and moved.employer == "电子厂"


# --- a move -------------------------------------------------------------------------------


def test_a_move_sets_the_province_from_the_city(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """After `DT 北京` the file does not read `广东 北京`: the province follows the city."""
    reply_text(sms(twilio, member.phone, "DT 北京"))
    assert (fresh(session, member).province, fresh(session, member).city) == ("北京", "北京")
    reply_text(sms(twilio, member.phone, "HB 1 苏州 电子厂"))
    assert (fresh(session, member).province, fresh(session, member).city) == ("江苏", "苏州")


def test_a_move_to_another_city_ends_the_host_attachment_and_tells_the_branch(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The host in Guangzhou no longer looks after a member now in Beijing: the attachment
    ends with a line of history and the branch gets an open task to attach a new host."""
    text = reply_text(sms(twilio, member.phone, "DT Beijing 建筑工地"))
    assert count_segments(text).segments == 1
    moved = fresh(session, member)
    assert moved.host_org_id is None
    change = session.scalar(select(MemberChange).where(MemberChange.field == ChangeField.HOST_ORG))
    assert change is not None and change.new_value is None and change.source == "sms"
    task = session.scalar(select(ContactLog).where(ContactLog.member_id == member.id))
    assert task is not None and task.kind is ContactKind.LIAISON_TASK
    assert task.done is False and task.user_id is None  # the branch's, not a liaison's
    assert "北京" in task.note and "广州白云区流动党支部" in task.note


def test_a_change_within_the_hosts_city_keeps_the_host(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A new employer in the same city, or a move to the host's city, keeps the attachment."""
    host_id = member.host_org_id
    reply_text(sms(twilio, member.phone, "DT 广州 富士康"))
    assert fresh(session, member).host_org_id == host_id
    assert session.scalar(select(ContactLog)) is None


# --- a help request and its details -------------------------------------------------------


def test_help_by_category_asks_for_the_details_and_keeps_them(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`QZ`, `1`, then the details: one request holding the details; later texts join it."""
    reply_text(sms(twilio, member.phone, "QZ"))
    asked = reply_text(sms(twilio, member.phone, "1"))
    request = session.scalar(select(HelpRequest))
    assert request is not None and request.category is HelpCategory.WAGES
    assert f"QZ{request.id}" in asked and "具体情况" in asked
    added = reply_text(sms(twilio, member.phone, "老板拖欠三个月工资"))
    assert f"QZ{request.id}" in added and count_segments(added).segments == 1
    reply_text(sms(twilio, member.phone, "一共八千元,工友也没拿到"))
    session.expire_all()
    requests = session.scalars(select(HelpRequest)).all()
    assert len(requests) == 1
    assert requests[0].text == "老板拖欠三个月工资\n一共八千元,工友也没拿到"
    details = stored(session, "老板拖欠三个月工资")
    assert details.command == "help" and details.handled is True


def test_details_after_a_full_request_join_it(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A request sent whole still takes a follow-up text in its conversation."""
    reply_text(sms(twilio, member.phone, "QZ 2 宿舍要拆了"))
    reply_text(sms(twilio, member.phone, "月底前要搬走"))
    request = session.scalar(select(HelpRequest))
    assert request is not None and request.text == "宿舍要拆了\n月底前要搬走"


def test_a_text_after_the_request_is_resolved_is_an_ordinary_text(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Once the branch has resolved the request, a text no longer joins it."""
    reply_text(sms(twilio, member.phone, "QZ 1 工资拖欠"))
    request = session.scalar(select(HelpRequest))
    assert request is not None
    request.status = HelpStatus.RESOLVED
    session.commit()
    assert reply_text(sms(twilio, member.phone, "谢谢支部")) == render("menu", "zh_CN")
    session.expire_all()
    assert session.get(HelpRequest, request.id).text == "工资拖欠"  # type: ignore[union-attr]
    assert stored(session, "谢谢支部").handled is False
