"""Who is asked which survey question when (models.survey_sms.ask_due), on a controlled clock:
the contact window, Tencent's two texts a day, and Alibaba's template slots."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Member, Message, MessageStatus, Organization
from models.outbox import TEMPLATE_RULES_KEY
from models.report import Channel
from models.sms_templates import TemplateRules
from models.survey import SurveyQuestion, read_survey
from models.survey_ops import (
    add_survey,
    current_question,
    open_recipient,
    record_answer,
    send_survey,
)
from models.survey_ready import ready_made
from models.survey_sms import ask_due, parse_answer
from models.targets import Target
from tests.factories import make_member, make_tree

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2026, 11, 12, 20, 0, tzinfo=SHANGHAI)  # inside the default 19:00-21:30


def _sent(session: Session, questions: int) -> tuple[Organization, Member]:
    """The township, and its one member, sent the first `questions` of the ready-made survey."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    data = ready_made()
    data["questions"] = data["questions"][:questions]
    survey = add_survey(session, township, None, read_survey(data), target=Target())
    send_survey(session, survey, EVENING - timedelta(hours=1))
    session.commit()
    return township, member


def _answer(session: Session, member: Member, body: str, now: datetime) -> None:
    """The member answers the question they are at, as the SMS step would store it."""
    recipient = open_recipient(session, member.id)
    assert recipient is not None
    question = current_question(session, recipient)
    assert question is not None
    value = parse_answer(question, body)
    assert value is not None
    kind = question.kind.value  # the keyword of record_answer: choice, number or text
    record_answer(session, recipient, question, channel=Channel.SMS, now=now, **{kind: value})
    session.commit()


def test_two_texts_a_day_under_tencent_spread_the_survey(session: Session) -> None:
    """Tencent's default cap is 2 a day: two questions today, the third tomorrow evening,
    not in the afternoon before the window opens."""
    township, member = _sent(session, 3)

    def ask(now: datetime) -> int:
        return ask_due(session, township, now, provider="tencent", ttl_hours=72).questions

    assert ask(EVENING) == 1
    _answer(session, member, "2012", EVENING)
    assert ask(EVENING + timedelta(minutes=5)) == 1
    _answer(session, member, "无", EVENING + timedelta(minutes=6))
    assert ask(EVENING + timedelta(minutes=10)) == 0
    assert ask(EVENING + timedelta(hours=19)) == 0  # 15:00 tomorrow: window shut
    assert ask(EVENING + timedelta(days=1)) == 1
    session.commit()
    rows = session.scalars(select(Message.body).order_by(Message.id)).all()
    assert [body[:9] for body in rows] == ["问卷(1/3)您哪", "问卷(2/3)除本", "问卷(3/3)外出"]


def test_under_twilio_there_is_no_cap(session: Session) -> None:
    """The same three questions go in one evening when the provider caps nothing."""
    township, member = _sent(session, 3)
    for minutes, body in ((0, "2012"), (5, "无"), (10, "1")):
        now = EVENING + timedelta(minutes=minutes)
        assert ask_due(session, township, now, provider="twilio", ttl_hours=72).questions == 1
        _answer(session, member, body, now)


def test_alibaba_gets_the_question_over_its_template_slots(session: Session) -> None:
    """Under Alibaba's rules the row keeps the question as one parameter, its body the
    template's text as read, one message."""
    township, member = _sent(session, 12)
    session.info[TEMPLATE_RULES_KEY] = TemplateRules.for_provider("aliyun", "青山镇")
    for step in range(11):
        _answer(
            session,
            member,
            {0: "2010", 1: "无", 3: "广州", 4: "电子厂", 5: "电工"}.get(step, "1"),
            EVENING,
        )
    asked = ask_due(session, township, EVENING, provider="aliyun", ttl_hours=72)
    assert asked.questions == 1
    row = session.get(Message, asked.message_ids[0])
    assert row is not None
    assert (row.template_key, row.status, row.segments) == (
        "survey_question",
        MessageStatus.QUEUED,
        1,
    )
    assert row.params["question"].startswith("(12/12)您在当地发挥作用的情况?")
    assert "(续)" in row.body
    last = session.scalar(select(SurveyQuestion).where(SurveyQuestion.position == 11))
    assert last is not None and last.field == "party_role"
