"""The survey results read: per question its answers by branch (counts per option, the
numbers' figures, the newest texts), recipients, responded and completed, scoped as the user
sees; a member's answers; and `flask survey results ID --json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Role
from models.reads import survey as reads
from models.report import Channel
from models.scope import scope_for
from models.survey import Survey, SurveyRecipient, read_survey
from models.survey_ops import (
    add_survey,
    current_question,
    pass_question,
    record_answer,
    send_survey,
)
from models.targets import Target
from tests.factories import make_member, make_tree, make_user

NOW = datetime(2027, 1, 5, 12, tzinfo=UTC)

DEFINITION: dict[str, Any] = {
    "title": "五个摸清",
    "questions": [
        {"text": "外出原因?", "kind": "choice", "choices": ["务工", "经商", "上学"]},
        {"text": "哪一年外出?", "kind": "number"},
        {"text": "工作单位?", "kind": "text"},
    ],
}


def _world(session: Session) -> tuple[Survey, dict[str, int], Any, Any]:
    """Three east members and two west ones sent the survey; four answer as listed."""
    township, east, west = make_tree(session)
    members = {
        name: make_member(session, branch, name=name).id
        for name, branch in (
            ("甲", east),
            ("乙", east),
            ("丙", east),
            ("丁", west),
            ("戊", west),
        )
    }
    survey = add_survey(session, township, None, read_survey(DEFINITION), target=Target())
    assert send_survey(session, survey, NOW) == 5
    plan: dict[str, list[dict[str, Any] | None]] = {
        "甲": [{"choice": 1}, {"number": 2015}, {"text": "广州电子厂"}],
        "乙": [{"choice": 1}, {"number": 2020}],
        "丁": [{"choice": 2}, None, {"text": "深圳物流"}],  # passed the number
        "戊": [{"choice": 3}],
    }
    for offset, (name, answers) in enumerate(plan.items()):
        recipient = session.scalars(
            select(SurveyRecipient).where(SurveyRecipient.member_id == members[name])
        ).one()
        for step, values in enumerate(answers):
            at = NOW + timedelta(minutes=10 * offset + step)
            question = current_question(session, recipient)
            assert question is not None
            if values is None:
                pass_question(session, recipient, at)
            else:
                record_answer(session, recipient, question, channel=Channel.SMS, now=at, **values)
    session.commit()
    return survey, members, east, west


def test_results_by_branch_match_what_was_answered(session: Session) -> None:
    """Counts per option and branch, number figures, texts newest first, and the figures."""
    survey, _, east, west = _world(session)
    result = reads.results(session, survey)
    assert (result.figures.recipients, result.figures.responded, result.figures.completed) == (
        5,
        4,
        2,
    )
    choice, number, text = result.questions
    assert choice.answered == 4 and choice.counts == {1: 2, 2: 1, 3: 1}
    assert [(b.branch, b.answered, b.counts) for b in choice.by_branch] == [
        (east.name, 2, {1: 2}),
        (west.name, 2, {2: 1, 3: 1}),
    ]
    assert (number.answered, number.numbers.count, number.numbers.low, number.numbers.high) == (
        2,
        2,
        2015,
        2020,
    )
    assert number.numbers.average == 2017.5
    assert [(b.branch, b.numbers.count) for b in number.by_branch] == [(east.name, 2)]
    assert text.answered == 2 and text.texts is not None
    assert [t.text for t in text.texts.items] == ["深圳物流", "广州电子厂"]  # newest first
    paged = reads.results(session, survey, text_page=2, texts_per_page=1)
    assert paged.questions[2].texts is not None
    assert [t.text for t in paged.questions[2].texts.items] == ["广州电子厂"]


def test_a_branch_user_sees_only_its_branch(session: Session) -> None:
    """The east branch's scope counts east members' answers and recipients only."""
    survey, _, east, _ = _world(session)
    scope = scope_for(session, make_user(session, east, Role.BRANCH))
    result = reads.results(session, survey, scope)
    assert (result.figures.recipients, result.figures.responded, result.figures.completed) == (
        3,
        2,
        1,
    )
    assert result.questions[0].counts == {1: 2}
    assert [b.branch for b in result.questions[0].by_branch] == [east.name]
    assert result.questions[2].texts is not None
    assert [t.text for t in result.questions[2].texts.items] == ["广州电子厂"]
    assert reads.visible_survey(session, scope, survey.id) is None  # the township's survey
    rows = reads.export_rows(session, survey, scope)
    assert sorted(row[0] for row in rows) == ["乙", "乙", "甲", "甲", "甲"]


def test_a_members_answers_beside_the_card(session: Session) -> None:
    _survey, members, _, _ = _world(session)
    answers = reads.member_answers(session, members["甲"])
    assert [(a.question, a.answer) for a in answers] == [
        ("外出原因?", "1. 务工"),
        ("哪一年外出?", "2015"),
        ("工作单位?", "广州电子厂"),
    ]
    assert reads.member_answers(session, members["丙"]) == []


def test_flask_survey_results_json(app: Flask, session: Session) -> None:
    """The stable JSON: figures, and per question its text and answers (a count per option
    keyed by digit, every option listed; the list of values)."""
    survey, _, _, _ = _world(session)
    result = app.test_cli_runner().invoke(args=["survey", "results", str(survey.id), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["recipients"], data["responded"], data["completed"]) == (5, 4, 2)
    choice, number, text = data["questions"]
    assert choice["text"] == "外出原因?" and choice["answers"] == {"1": 2, "2": 1, "3": 1}
    assert choice["options"] == {"1": "务工", "2": "经商", "3": "上学"}
    assert number["answers"] == [2015, 2020]
    assert text["answers"] == ["广州电子厂", "深圳物流"]
    plain = app.test_cli_runner().invoke(args=["survey", "results", str(survey.id)])
    assert plain.exit_code == 0 and "responded 4" in plain.output


def test_flask_survey_results_of_an_unknown_survey(app: Flask, session: Session) -> None:
    for args in (["survey", "results", "999"], ["survey", "results", "abc", "--json"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code != 0 and "Traceback" not in result.output
    missing = app.test_cli_runner().invoke(args=["survey", "results", "999", "--json"])
    assert "no survey with id 999" in missing.output
