"""Every question the system asks by SMS accepts every answer it offers.

The table is the audit: each template that asks something (models/templates.py) names the
conversation state it opens (sms_flows.conversation.QUESTIONS), the digits its own text offers
are read from that text, and the words it invites are listed here. Each answer goes through
the real /sms webhook in that state and must be taken (stored as handled), not refused.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Channel,
    Conversation,
    Direction,
    HelpCategory,
    Member,
    Message,
    Organization,
    open_help_request,
    utcnow,
)
from models.question import STEPS, Step, Topic
from models.survey import read_survey
from models.survey_ops import add_survey, send_survey
from models.survey_sms import asked
from models.targets import Target
from models.templates import TEMPLATES
from sms_flows.conversation import QUESTIONS
from tests.factories import make_member, make_tree
from tests.gateway.test_sms import reply_text, sms
from tests.support import TwilioClient

# Templates that say 回复 but open no question: they name a keyword command to send, or tell
# the member where they stand. A new template that asks something must be put in QUESTIONS.
NOT_QUESTIONS = {
    "menu": "lists the keyword commands",
    "not_understood": "points to the menu",
    "lessons_list": "names the XX command",
    "lesson_unknown": "names the XX command",
    "lesson_missed": "names the XX command",
    "phone_code": "the code is texted back from the new phone (stranger_step)",
    "phone_code_sent": "the code is texted back from the new phone (stranger_step)",
    "phone_code_wrong": "names the HH command",
    "opted_out": "names the DY command",
    "opted_in": "points to the menu",
    "answer_no_question": "points to the menu",
    "notice_reply_ack": "thanks for a reply (您对通知的回复)",
    "deed_items": "names the GX command",
}

# Answers in words that a question invites (beside the digits its text lists), and the
# answers members give to such a question without being told (`2` for "no, it changed").
WORDS: dict[str, list[str]] = {
    "reminder": ["学了", "没学"],
    "reminder_second": ["学了", "没学"],
    "report_ask_studied": ["是", "否"],
    "answer_invalid": ["1", "2"],
    "report_ask_same": ["2", "否", "变了", "深圳 电子厂", "shenzhen Foxconn", "是", "没变"],
    "report_same_invalid": ["2", "深圳 电子厂", "Dongguan"],
    "report_ask_place": ["深圳 电子厂", "Guangzhou", "北京"],
    "status_ask": ["深圳 电子厂", "DT 深圳 电子厂", "Beijing", "杭州"],
    "help_ask_category": ["1 工资拖欠三个月", "住房 宿舍要拆了"],
    "help_ask_details": ["老板拖欠三个月工资不给"],
    "help_details_added": ["他们今天又来了"],
    "help_done": ["补充一下:一共欠了八千元"],
    "phone_ask": ["13912345678", "HH 13912345678"],
    "phone_invalid": ["13912345678"],
    "deed_ask_text": ["帮同乡在东莞找到工作", "给村小学捐了图书"],
    # The options are in the question's own text (models.survey_sms.compose): 1有 2没有 3不清楚.
    "survey_question": ["1", "2", "3", "是", "否"],
    "survey_reminder": ["1", "3"],
}

# One digit (or a range such as 1-7) standing alone in a template's text: an offered answer.
_OFFERED = re.compile(r"(?<![0-9{])([0-9])(?:-([0-9]))?(?![0-9}])")


def offered_digits(key: str) -> list[str]:
    """The digits a template's Chinese text offers as answers."""
    digits: list[str] = []
    for first, last in _OFFERED.findall(re.sub(r"\{[^}]*\}", "", TEMPLATES[key]["zh_CN"])):
        digits += [str(d) for d in range(int(first), int(last or first) + 1)]
    return digits


def answers() -> list[tuple[str, str]]:
    """(template, answer) for every question and every answer it offers or invites."""
    cases = []
    for key in sorted(QUESTIONS):
        for answer in dict.fromkeys([*offered_digits(key), *WORDS[key]]):
            cases.append((key, answer))
    return cases


def test_every_template_that_says_reply_is_classified() -> None:
    """Each template whose text asks for a reply opens a known question or is listed as not."""
    asking = {key for key, texts in TEMPLATES.items() if "回复" in texts["zh_CN"]}
    assert asking - set(QUESTIONS) - set(NOT_QUESTIONS) == set()
    assert set(QUESTIONS) <= set(TEMPLATES) and set(WORDS) == set(QUESTIONS)


def test_every_state_the_code_opens_has_its_question() -> None:
    """Each conversation state the SMS handler, the reminders or the voice flow opens is the
    state of a question in the table, so its answers are audited too: a question can only be
    built in a state of models.question.STEPS, and each such state has its template."""
    every_state = {(topic, step) for topic, steps in STEPS.items() for step in steps}
    assert set(QUESTIONS.values()) == every_state
    root = Path(__file__).resolve().parents[2]
    opened: set[tuple[Topic, Step]] = set()
    for path in (
        "sms_flows/conversation.py",
        "gateway/voice.py",
        "workers/reminders.py",
        "models/survey_sms.py",
    ):
        source = (root / path).read_text()
        found = re.findall(r"Question\(\s*Topic\.(\w+),\s*Step\.(\w+)", source)
        opened |= {(Topic[topic], Step[step]) for topic, step in found}
    assert len(opened) >= 7  # the search still finds them
    assert opened <= set(QUESTIONS.values())


def test_the_table_reads_the_offered_digits() -> None:
    """The digits are read from the texts themselves, ranges included."""
    assert offered_digits("report_ask_studied") == ["1", "2"]
    assert offered_digits("help_ask_category") == [str(d) for d in range(1, 8)]
    assert offered_digits("report_ask_same") == ["1"]
    assert offered_digits("phone_ask") == []


@pytest.fixture
def member(session: Session) -> Member:
    """A member of a branch in Guangzhou at an electronics factory."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone="+8613800000001")
    session.commit()
    return created


def _open(session: Session, member: Member, key: str) -> None:
    """Put the member in the conversation state the template's question opens."""
    topic, step = QUESTIONS[key]
    data: dict[str, Any] = {}
    if topic == "report" and step != "studied":
        data["studied"] = True
    if topic == "help" and step == "details":
        request = open_help_request(
            session, member, category=HelpCategory.WAGES, text="", channel=Channel.SMS
        )
        data["request"] = request.id
    if topic == "deed":
        data["item"] = 4
    if topic == "survey":
        draft = read_survey(
            {
                "title": "问卷",
                "questions": [
                    {
                        "text": "单位有党组织吗?",
                        "kind": "choice",
                        "choices": ["有", "没有", "不清楚"],
                    }
                ],
            }
        )
        township = session.get(Organization, member.branch_id)
        assert township is not None
        survey = add_survey(session, township, None, draft, target=Target())
        send_survey(session, survey, utcnow())
        data = asked(survey.questions[0], 1).stored_data()
    session.add(
        Conversation(
            member_id=member.id,
            topic=topic,
            step=step,
            data=data,
            expires_at=utcnow() + timedelta(days=2),
            updated_at=utcnow(),
        )
    )
    session.commit()


@pytest.mark.parametrize(("key", "answer"), answers())
def test_every_question_accepts_every_answer_it_offers(
    twilio: TwilioClient, session: Session, member: Member, key: str, answer: str
) -> None:
    """The answer, texted in the question's state, is taken: handled, never `reply 1 or 2`."""
    _open(session, member, key)
    text = reply_text(sms(twilio, member.phone, answer))
    session.expire_all()
    stored = session.scalar(
        select(Message).where(Message.direction == Direction.IN, Message.body == answer)
    )
    assert stored is not None
    assert stored.handled is True, f"{key}: {answer!r} refused with {text!r}"
