"""Surveys by SMS through the real /sms webhook (signed) and the reminders tick that asks:
digits answer the question asked last, out of range is asked again once, the monthly report
comes first, caps spread a survey over days, and the card learns from the answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    ChangeField,
    ChangeSource,
    Channel,
    Conversation,
    Direction,
    Member,
    MemberChange,
    Message,
    Organization,
    period_of,
    record_report,
    utcnow,
)
from models.cycle import DueStep, rules_for
from models.survey import SurveyAnswer, SurveyQuestion, SurveyRecipient, read_survey
from models.survey_ops import add_survey, send_survey
from models.survey_ready import ready_made
from models.survey_sms import answer_by_sms
from models.targets import Target
from tests.factories import make_member, make_tree, open_window_now
from tests.gateway.test_sms import reply_text, sms
from tests.support import TwilioClient
from workers import reminders

CHOICE = {
    "text": "您的工作单位有党组织吗?",
    "kind": "choice",
    "choices": ["有", "没有", "不清楚"],
    "field": "workplace_party_org",
}
NUMBER = {"text": "您哪一年开始外出务工?", "kind": "number", "field": "departure_year"}
TEXT = {"text": "您现在的工作单位名称?", "kind": "text", "field": "employer"}


@pytest.fixture
def township(session: Session) -> Organization:
    """青山镇, whose contact window is open now."""
    township, _, _ = make_tree(session)
    open_window_now(township)
    session.commit()
    return township


@pytest.fixture
def member(session: Session, township: Organization) -> Member:
    """王建国 of 东村, who has reported this month (so no report reminder is due)."""
    branch = session.scalar(select(Organization).where(Organization.name == "东村党支部"))
    assert branch is not None
    created = make_member(session, branch, name="王建国", phone="+8613800000001")
    record_report(
        session,
        created,
        period=period_of(utcnow(), township.timezone),
        studied=True,
        channel=Channel.SMS,
    )
    session.commit()
    return created


def send(
    session: Session, township: Organization, questions: list[dict[str, Any]], **options: Any
) -> int:
    """A survey of these questions sent to the whole township; its id."""
    now = options.pop("now", None) or utcnow()
    draft = read_survey({"title": "测试问卷", "questions": questions})
    survey = add_survey(session, township, None, draft, target=Target(), **options)
    send_survey(session, survey, now)
    session.commit()
    return survey.id


def tick(when: datetime | None = None) -> dict[str, int]:
    """The reminders tick, now or at `when`."""
    return reminders.tick((when or utcnow()).isoformat())


def texts(session: Session, member: Member) -> list[str]:
    """The bodies of the texts queued for the member, oldest first."""
    session.expire_all()
    return list(
        session.scalars(
            select(Message.body)
            .where(Message.member_id == member.id, Message.direction == Direction.OUT)
            .order_by(Message.id)
        )
    )


def recipient(session: Session, survey_id: int, member: Member) -> SurveyRecipient:
    """The member's row of the survey, as stored now."""
    session.expire_all()
    row = session.scalar(
        select(SurveyRecipient).where(
            SurveyRecipient.survey_id == survey_id, SurveyRecipient.member_id == member.id
        )
    )
    assert row is not None
    return row


def answers(session: Session, survey_id: int) -> list[tuple[int | None, int | None, str | None]]:
    """(choice, number, text) of the survey's answers, in the order given."""
    session.expire_all()
    rows = session.execute(
        select(SurveyAnswer.choice, SurveyAnswer.number, SurveyAnswer.text)
        .where(SurveyAnswer.survey_id == survey_id)
        .order_by(SurveyAnswer.id)
    ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]  # Row to a plain tuple


def topic(session: Session, member: Member) -> str | None:
    """The topic of the member's open SMS question, if any."""
    session.expire_all()
    row = session.scalar(select(Conversation).where(Conversation.member_id == member.id))
    return None if row is None else str(row.topic)


def test_a_digit_answers_the_question_and_the_next_follows(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """The tick asks one question a text with its options; a digit answers it, the card
    learns it with a line of history from the survey, and the next tick asks the next one."""
    survey_id = send(session, township, [CHOICE, NUMBER, TEXT])
    assert tick() == {"survey_question": 1}
    assert tick() == {}  # asked: nothing more until it is answered
    assert texts(session, member) == ["问卷(1/3)您的工作单位有党组织吗? 1有 2没有 3不清楚 回复数字"]
    assert reply_text(sms(twilio, member.phone, "1")) == "已记录,谢谢!下一题稍后发给您。"
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.workplace_party_org == "有"
    change = session.scalar(
        select(MemberChange).where(
            MemberChange.member_id == member.id,
            MemberChange.field == ChangeField.WORKPLACE_PARTY_ORG,
        )
    )
    assert change is not None
    assert (change.source, change.survey_id, change.new_value) == (
        ChangeSource.SURVEY,
        survey_id,
        "有",
    )
    assert tick() == {"survey_question": 1}
    assert texts(session, member)[-1] == "问卷(2/3)您哪一年开始外出务工? 回复数字"
    # Full-width digits and a unit are a number.
    reply_text(sms(twilio, member.phone, "２０１５年"))
    tick()
    assert texts(session, member)[-1] == "问卷(3/3)您现在的工作单位名称? 回复文字"
    long_text = "东莞市长安镇" + "富士康精密电子有限公司第三事业部" * 5
    assert reply_text(sms(twilio, member.phone, long_text)) == "问卷已答完,谢谢您的配合!"
    assert answers(session, survey_id) == [
        (1, None, None),
        (None, 2015, None),
        (None, None, long_text),
    ]
    done = recipient(session, survey_id, member)
    assert done.completed_at is not None and done.started_at is not None
    assert tick() == {}
    assert topic(session, member) is None


def test_out_of_range_is_asked_again_once_then_the_survey_moves_on(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """`7` to a question of three options gets the question again; `7` again passes it."""
    survey_id = send(session, township, [CHOICE, NUMBER])
    tick()
    asked = texts(session, member)[-1]
    again = reply_text(sms(twilio, member.phone, "7"))
    assert again == asked
    assert recipient(session, survey_id, member).position == 0
    assert reply_text(sms(twilio, member.phone, "八")) == "这题先跳过,谢谢!下一题稍后发给您。"
    row = recipient(session, survey_id, member)
    assert (row.position, row.started_at) == (1, None)
    assert answers(session, survey_id) == []
    tick()
    assert texts(session, member)[-1].startswith("问卷(2/2)")
    reply_text(sms(twilio, member.phone, "2016"))
    assert answers(session, survey_id) == [(None, 2016, None)]


def test_keywords_still_work_and_the_question_is_asked_again_after(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """`DT 深圳` while a survey question is open is a status update; the question comes back."""
    send(session, township, [CHOICE])
    tick()
    assert "深圳" in reply_text(sms(twilio, member.phone, "DT 深圳"))
    assert topic(session, member) is None
    assert tick() == {"survey_question": 1}
    assert topic(session, member) == "survey"


def _open_report(session: Session, township: Organization, member: Member) -> None:
    """A report reminder for the member now (the escalation's own step)."""
    period = period_of(utcnow(), "Asia/Shanghai")
    fresh = session.get(Member, member.id)
    assert fresh is not None
    reminders.take_step(
        session, DueStep(fresh, "reminder", period), utcnow(), rules_for(township).timezone
    )
    session.commit()


def test_a_report_reminder_after_the_survey_question_takes_the_digit(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """Survey question first, then a report reminder: `1` answers the report (asked last);
    once the report is closed, the survey question is asked again and `2` answers it."""
    survey_id = send(session, township, [CHOICE])
    tick()
    _open_report(session, township, member)
    assert topic(session, member) == "report"
    assert "还在" in reply_text(sms(twilio, member.phone, "1"))
    assert answers(session, survey_id) == []
    assert tick() == {}  # the report is still open: no survey question
    assert "汇报已收到" in reply_text(sms(twilio, member.phone, "1"))
    assert tick() == {"survey_question": 1}
    assert texts(session, member)[-1].startswith("问卷(1/1)")
    reply_text(sms(twilio, member.phone, "2"))
    assert answers(session, survey_id) == [(2, None, None)]


def test_an_open_report_holds_the_survey_back(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """Report reminder first: the survey never interrupts it; after the report, the survey
    question is asked and a bare digit answers it."""
    _open_report(session, township, member)
    survey_id = send(session, township, [CHOICE])
    assert tick() == {}
    assert "还在" in reply_text(sms(twilio, member.phone, "2"))
    assert "汇报已收到" in reply_text(sms(twilio, member.phone, "1"))
    assert answers(session, survey_id) == []
    assert tick() == {"survey_question": 1}
    reply_text(sms(twilio, member.phone, "3"))
    assert answers(session, survey_id) == [(3, None, None)]


def test_the_daily_cap_spreads_a_survey_over_days(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """With a cap of two texts a day, two questions go today, the third tomorrow."""
    township.settings = {**township.settings, "sms_daily_cap": 2}
    session.commit()
    survey_id = send(session, township, [CHOICE, NUMBER, TEXT])
    now = utcnow()
    assert tick(now) == {"survey_question": 1}
    reply_text(sms(twilio, member.phone, "1"))
    assert tick(now + timedelta(minutes=5)) == {"survey_question": 1}
    reply_text(sms(twilio, member.phone, "2015"))
    assert tick(now + timedelta(minutes=10)) == {}
    assert recipient(session, survey_id, member).position == 2
    assert tick(now + timedelta(days=1)) == {"survey_question": 1}
    assert texts(session, member)[-1].startswith("问卷(3/3)")


def test_outside_the_window_and_opted_out_nobody_is_asked(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """Six hours from now the window is shut; a member who opted out is never asked."""
    other = make_member(session, session.get(Organization, member.branch_id), name="李明")
    session.commit()
    send(session, township, [CHOICE])
    assert tick(utcnow() + timedelta(hours=6)) == {}
    reply_text(sms(twilio, other.phone, "TD"))
    assert tick() == {"survey_question": 1}
    assert texts(session, other) == []
    assert len(texts(session, member)) == 1


def test_one_reminder_after_the_set_days(
    session: Session, township: Organization, member: Member
) -> None:
    """Not answered: reminded once `remind_after_days` after sending, then never again."""
    now = utcnow()
    survey_id = send(session, township, [CHOICE, NUMBER], remind_after_days=2, now=now)
    assert tick(now) == {"survey_question": 1}
    assert tick(now + timedelta(days=1)) == {}
    assert tick(now + timedelta(days=2)) == {"survey_reminder": 1}
    assert texts(session, member)[-1].startswith("问卷提醒(1/2)")
    assert tick(now + timedelta(days=3)) == {}
    assert recipient(session, survey_id, member).reminded_at is not None


def test_an_answer_from_an_unknown_number_is_kept_unmatched(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """A digit from a number no member has is stored unmatched and answers nothing."""
    survey_id = send(session, township, [CHOICE])
    tick()
    assert "未登记" in reply_text(sms(twilio, "+8613900000999", "1"))
    session.expire_all()
    kept = session.scalar(select(Message).where(Message.phone == "+8613900000999"))
    assert kept is not None
    assert (kept.member_id, kept.command, kept.handled) == (None, "unmatched", False)
    assert answers(session, survey_id) == []


def test_the_ready_made_survey_can_be_sent_and_answered(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """五个摸清: twelve questions, the first asked by SMS and answered into the card."""
    draft = read_survey(ready_made())
    assert len(draft.questions) == 12
    survey = add_survey(session, township, None, draft, target=Target())
    send_survey(session, survey, utcnow())
    session.commit()
    tick()
    assert texts(session, member) == ["问卷(1/12)您哪一年开始外出务工? 回复数字"]
    reply_text(sms(twilio, member.phone, "2012"))
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.departure_date is not None
    assert fresh.departure_date.year == 2012


def test_a_question_answered_elsewhere_meanwhile_is_not_asked_again(
    twilio: TwilioClient, session: Session, township: Organization, member: Member
) -> None:
    """Answered by a call after the text asked it: a late `9` asks nothing and stores nothing
    more; a late `2` is not taken for the next question either."""
    survey_id = send(session, township, [CHOICE, NUMBER])
    tick()
    row = recipient(session, survey_id, member)
    question = session.scalar(
        select(SurveyQuestion).where(
            SurveyQuestion.survey_id == survey_id, SurveyQuestion.position == 0
        )
    )
    assert question is not None
    assert answer_by_sms(session, member.id, survey_id, question.id, 1, utcnow())
    session.commit()
    assert row.position == 1
    assert reply_text(sms(twilio, member.phone, "9")) == "没有待回答的问题。回复?查看菜单。"
    assert topic(session, member) is None
    reply_text(sms(twilio, member.phone, "2"))
    assert answers(session, survey_id) == [(1, None, None)]
