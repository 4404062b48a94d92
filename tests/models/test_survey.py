"""Surveys as data: a definition checked before anything is stored, sent to a target's members,
answered into the card with a line of history from the survey, and resumed where it stopped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ChangeField, ChangeSource, MemberChange
from models.report import Channel
from models.survey import (
    MAX_CHOICES,
    QuestionKind,
    SurveyAnswer,
    SurveyError,
    SurveyStatus,
    read_survey,
)
from models.survey_ops import (
    add_survey,
    current_question,
    open_recipient,
    pass_question,
    record_answer,
    send_survey,
)
from models.targets import Target
from tests.factories import make_member, make_tree

NOW = datetime(2027, 1, 5, 12, tzinfo=UTC)

SURVEY: dict[str, Any] = {
    "title": "五个摸清",
    "title_en": "Five things to know",
    "questions": [
        {
            "text": "您外出的主要原因?",
            "text_en": "Why did you leave home?",
            "kind": "choice",
            "choices": [{"zh": "务工", "en": "Work"}, {"zh": "经商", "en": "Business"}, "上学"],
            "field": "reason",
        },
        {"text": "哪一年外出?", "kind": "number", "field": "departure_year"},
        {"text": "工作单位名称?", "kind": "text", "field": "employer"},
        {
            "text": "单位有党组织吗?",
            "kind": "choice",
            "choices": ["有", "没有", "不清楚"],
            "field": "workplace_party_org",
        },
    ],
}


def with_question(**changes: Any) -> dict[str, Any]:
    return {"title": "问卷", "questions": [{"text": "问题", "kind": "choice", **changes}]}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"title": "空问卷", "questions": []}, "no questions"),
        ({"title": "空问卷"}, "no questions"),
        ({"questions": [{"text": "问", "kind": "text"}]}, "text is missing"),
        (with_question(choices=[]), "needs options"),
        (with_question(), "needs options"),
        (with_question(choices=[str(i) for i in range(MAX_CHOICES + 1)]), "more than 9"),
        (with_question(choices=["是", "否"], field="salary"), "no field 'salary'"),
        (with_question(choices=["是", "否"], field="departure_year"), "cannot be filled"),
        (with_question(kind="essay"), "kind must be"),
        (
            {"title": "问卷", "questions": [{"text": "几岁?", "kind": "number", "choices": ["1"]}]},
            "only a choice",
        ),
        ([], "must be an object"),
        ({"title": "问卷", "questions": ["问题"]}, "must be an object"),
    ],
)
def test_a_bad_definition_is_refused_with_the_reason_in_both_languages(
    data: Any, needle: str
) -> None:
    with pytest.raises(SurveyError) as caught:
        read_survey(data)
    assert needle in caught.value.en
    assert caught.value.zh


def test_a_definition_is_read_with_its_options_and_fields() -> None:
    draft = read_survey(SURVEY)
    assert draft.title == "五个摸清"
    assert [q.kind for q in draft.questions] == [
        QuestionKind.CHOICE,
        QuestionKind.NUMBER,
        QuestionKind.TEXT,
        QuestionKind.CHOICE,
    ]
    assert draft.questions[0].choices == (("务工", "Work"), ("经商", "Business"), ("上学", None))
    assert draft.questions[1].field == "departure_year"


def test_a_survey_goes_to_the_targets_members_who_have_not_opted_out(session: Session) -> None:
    township, east, west = make_tree(session)
    asked = [make_member(session, east) for _ in range(3)]
    make_member(session, east, opted_out_at=NOW)
    make_member(session, east, active=False)
    make_member(session, west)
    survey = add_survey(
        session, township, None, read_survey(SURVEY), target=Target(branch_ids=(east.id,))
    )
    assert survey.status is SurveyStatus.DRAFT and len(survey.questions) == 4
    assert send_survey(session, survey, NOW) == 3
    assert survey.status is SurveyStatus.OPEN and survey.sent_at == NOW
    assert {m.id for m in asked} == {
        r.member_id
        for r in (open_recipient(session, m.id) for m in asked)
        if r is not None and r.survey_id == survey.id
    }
    with pytest.raises(SurveyError):
        send_survey(session, survey, NOW)


def test_answers_fill_the_card_with_history_from_the_survey_and_the_survey_moves_on(
    session: Session,
) -> None:
    township, east, _ = make_tree(session)
    member = make_member(session, east, employer="电子厂")
    survey = add_survey(session, township, None, read_survey(SURVEY), target=Target())
    send_survey(session, survey, NOW)
    recipient = open_recipient(session, member.id)
    assert recipient is not None

    first = current_question(session, recipient)
    assert first is not None and first.position == 0
    with pytest.raises(SurveyError):
        record_answer(session, recipient, first, channel=Channel.SMS, now=NOW, choice=4)
    record_answer(session, recipient, first, channel=Channel.SMS, now=NOW, choice=2)
    second = current_question(session, recipient)
    assert second is not None and second.position == 1
    record_answer(session, recipient, second, channel=Channel.IVR, now=NOW, number=2019)
    third = current_question(session, recipient)
    assert third is not None
    record_answer(session, recipient, third, channel=Channel.SMS, now=NOW, text="富士康 科技")
    fourth = current_question(session, recipient)
    assert fourth is not None
    pass_question(session, recipient, NOW)

    assert recipient.completed_at == NOW and recipient.started_at == NOW
    assert current_question(session, recipient) is None
    assert open_recipient(session, member.id) is None
    assert member.reason == "经商"
    assert member.departure_date == date(2019, 1, 1)
    assert member.employer == "富士康 科技"
    assert member.workplace_party_org is None
    history = session.scalars(
        select(MemberChange).where(MemberChange.member_id == member.id).order_by(MemberChange.id)
    ).all()
    assert [(h.field, h.new_value, h.source, h.survey_id) for h in history] == [
        (ChangeField.REASON, "经商", ChangeSource.SURVEY, survey.id),
        (ChangeField.DEPARTURE_YEAR, "2019", ChangeSource.SURVEY, survey.id),
        (ChangeField.EMPLOYER, "富士康 科技", ChangeSource.SURVEY, survey.id),
    ]
    answers = session.scalars(select(SurveyAnswer).order_by(SurveyAnswer.id)).all()
    assert [(a.choice, a.number, a.text, a.channel) for a in answers] == [
        (2, None, None, Channel.SMS),
        (None, 2019, None, Channel.IVR),
        (None, None, "富士康 科技", Channel.SMS),
    ]


def test_an_answer_given_again_replaces_the_first_and_a_same_value_leaves_no_history(
    session: Session,
) -> None:
    township, east, _ = make_tree(session)
    member = make_member(session, east, reason="务工")
    survey = add_survey(session, township, None, read_survey(SURVEY), target=Target())
    send_survey(session, survey, NOW)
    recipient = open_recipient(session, member.id)
    assert recipient is not None
    first = current_question(session, recipient)
    assert first is not None
    record_answer(session, recipient, first, channel=Channel.SMS, now=NOW, choice=1)
    record_answer(session, recipient, first, channel=Channel.IVR, now=NOW, choice=1)
    assert recipient.position == 1  # the second answer to a passed question does not skip on
    assert session.scalars(select(SurveyAnswer)).one().channel is Channel.IVR
    assert session.scalars(select(MemberChange)).all() == []


def test_the_oldest_open_survey_comes_first(session: Session) -> None:
    township, east, _ = make_tree(session)
    member = make_member(session, east)
    first = add_survey(session, township, None, read_survey(SURVEY), target=Target())
    send_survey(session, first, NOW)
    second = add_survey(session, township, None, read_survey(SURVEY), target=Target())
    send_survey(session, second, NOW.replace(day=6))
    recipient = open_recipient(session, member.id)
    assert recipient is not None and recipient.survey_id == first.id
    for _ in range(4):
        pass_question(session, recipient, NOW)
    recipient = open_recipient(session, member.id)
    assert recipient is not None and recipient.survey_id == second.id


SCHOOLING = "初中毕业后上过两年技校,学的是数控机床操作和电工基础知识"


@pytest.mark.parametrize(
    ("field", "answer", "on_card"),
    [
        ("other_phone", "无", None),
        ("other_phone", "没有。", None),
        ("other_phone", "家里座机 看不清", None),
        ("other_phone", "139 1234 5678", "+8613912345678"),
        ("occupation", "None", None),
        ("occupation", "电工" * 40, "电工" * 32),  # cut to the column (64); the answer whole
        ("education", SCHOOLING, SCHOOLING[:32]),  # education holds 32
    ],
)
def test_a_text_answer_fills_the_card_only_with_what_the_field_can_hold(
    session: Session, field: str, answer: str, on_card: str | None
) -> None:
    township, east, _ = make_tree(session)
    member = make_member(session, east)
    draft = read_survey(
        {"title": "问卷", "questions": [{"text": "问", "kind": "text", "field": field}]}
    )
    survey = add_survey(session, township, None, draft, target=Target())
    send_survey(session, survey, NOW)
    recipient = open_recipient(session, member.id)
    assert recipient is not None
    question = current_question(session, recipient)
    assert question is not None
    record_answer(session, recipient, question, channel=Channel.SMS, now=NOW, text=answer)
    session.flush()
    assert getattr(member, field) == on_card
    assert session.scalars(select(SurveyAnswer)).one().text == answer
