"""The SMS question, typed: every state round-trips through its JSON, bad stored data is none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.question import (
    STEPS,
    DeedAsked,
    HelpAsked,
    NoData,
    Question,
    ReportAnswers,
    Step,
    SurveyAsked,
    Topic,
    read_question,
)

EXAMPLES = [
    Question(Topic.REPORT, Step.STUDIED),
    Question(Topic.REPORT, Step.STUDIED, ReportAnswers(period="2026-11")),
    Question(Topic.REPORT, Step.SAME, ReportAnswers(studied=True)),
    Question(Topic.REPORT, Step.PLACE, ReportAnswers(studied=False)),
    Question(Topic.STATUS, Step.PLACE),
    Question(Topic.HELP, Step.CATEGORY),
    Question(Topic.HELP, Step.DETAILS, HelpAsked(12)),
    Question(Topic.PHONE, Step.NUMBER),
    Question(Topic.DEED, Step.DETAILS, DeedAsked(4)),
    Question(Topic.SURVEY, Step.ANSWER, SurveyAsked(3, 21, "choice", 4)),
    Question(Topic.SURVEY, Step.ANSWER, SurveyAsked(3, 22, "text", last=True, again=True)),
]


@pytest.mark.parametrize("question", EXAMPLES, ids=str)
def test_every_state_reads_back_as_written(question: Question) -> None:
    """A question stored as topic, step and JSON text (SQLite) or parsed JSON (psycopg) reads
    back equal to itself."""
    data = question.stored_data()
    assert read_question(question.topic.value, question.step.value, json.dumps(data)) == question
    assert read_question(question.topic.value, question.step.value, data) == question


def test_the_examples_cover_every_state() -> None:
    """Each (topic, step) the code may open is among the examples above."""
    assert {(q.topic, q.step) for q in EXAMPLES} == {
        (topic, step) for topic, steps in STEPS.items() for step in steps
    }


def test_the_stored_json_keeps_the_keys_earlier_versions_wrote() -> None:
    """Rows written before the types read alike: `studied`, `period` and `request`."""
    assert read_question("report", "same", '{"studied": false}') == Question(
        Topic.REPORT, Step.SAME, ReportAnswers(studied=False)
    )
    assert read_question("report", "studied", {"period": "2026-11"}) == Question(
        Topic.REPORT, Step.STUDIED, ReportAnswers(period="2026-11")
    )
    assert read_question("help", "details", {"request": 3}) == Question(
        Topic.HELP, Step.DETAILS, HelpAsked(3)
    )
    assert Question(Topic.HELP, Step.DETAILS, HelpAsked(3)).stored_data() == {"request": 3}


@pytest.mark.parametrize(
    ("topic", "step", "data"),
    [
        ("phone_change", "code", {}),  # a topic no longer asked
        ("report", "city", {}),  # a step the topic has not
        ("status", "details", {}),  # a step of another topic
        ("help", "details", {}),  # help details without their request
        ("help", "details", {"request": "12"}),  # a request id that is text
        ("help", "details", {"request": True}),  # JSON true is not an id
        ("deed", "details", {}),  # a deed's details without its item
        ("deed", "details", {"item": "4"}),  # an item that is text
        ("survey", "answer", {}),  # a survey's question without its ids
        ("survey", "answer", {"survey": 1, "question": 2, "kind": "date"}),  # no such kind
        ("report", "same", {"studied": "yes"}),
        ("report", "same", "[1, 2]"),  # not an object
        ("report", "same", "{not json"),
        (None, None, None),
    ],
)
def test_a_question_that_cannot_be_read_is_none(topic: Any, step: Any, data: Any) -> None:
    """Unknown, mismatched or malformed stored questions count as no open question."""
    assert read_question(topic, step, data) is None


def test_a_question_that_cannot_be_asked_is_refused() -> None:
    """Building a question in no valid state raises, so none is ever stored."""
    with pytest.raises(ValueError, match="no step"):
        Question(Topic.STATUS, Step.STUDIED)
    with pytest.raises(ValueError, match="takes"):
        Question(Topic.STATUS, Step.PLACE, HelpAsked(1))
    with pytest.raises(ValueError, match="request"):
        Question(Topic.HELP, Step.DETAILS)
    with pytest.raises(ValueError, match="item"):
        Question(Topic.DEED, Step.DETAILS)
    with pytest.raises(ValueError, match="survey"):
        Question(Topic.SURVEY, Step.ANSWER)


def test_extra_stored_keys_are_ignored() -> None:
    """Keys this version does not know are not an error (a newer version may add some)."""
    assert read_question("status", "place", {"city": "东莞"}) == Question(
        Topic.STATUS, Step.PLACE, NoData()
    )
