"""A reply to a survey's question, read by the pure step (no database): what it answers,
when the question is asked again, and when the survey moves on without an answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.question import Question, Step, SurveyAsked, Topic, read_question
from models.survey import QuestionKind
from models.survey_sms import read_answer
from sms_flows.conversation import (
    AnswerSurvey,
    AskSurveyAgain,
    CloseQuestion,
    Learned,
    Outcome,
    PassSurvey,
    Reply,
    SaveReport,
    step,
)
from sms_flows.keywords import parse
from tests.sms_flows.facts import NOW, FixedFacts, sender


def asked(kind: str = "choice", choices: int = 3, **extra: bool) -> Question:
    """Question 12 of survey 5, open."""
    return Question(Topic.SURVEY, Step.ANSWER, SurveyAsked(5, 12, kind, choices, **extra))


def run(text: str, question: Question) -> Outcome:
    """The step for this text with this survey question open."""
    return step(sender(question), parse(text), NOW, FixedFacts())


@pytest.mark.parametrize(
    ("kind", "choices", "body", "value"),
    [
        ("choice", 3, "2", 2),
        ("choice", 3, "２", 2),
        ("choice", 3, " 3。", 3),
        ("choice", 3, "4", None),
        ("choice", 3, "0", None),
        ("choice", 3, "有", None),
        ("choice", 9, "9", 9),
        ("number", 0, "2015", 2015),
        ("number", 0, "２０１５年", 2015),
        ("number", 0, "35岁", 35),
        ("number", 0, "两千", None),
        ("number", 0, "1234567890", None),
        ("text", 0, " 富士康  科技 ", "富士康 科技"),
        ("text", 0, "。", None),
    ],
)
def test_read_answer(kind: str, choices: int, body: str, value: int | str | None) -> None:
    """Digits (full-width too) in range, a number with its unit, a text kept whole."""
    assert read_answer(kind, choices, body) == value


@given(st.sampled_from(list(QuestionKind)), st.integers(0, 9), st.text())
def test_read_answer_never_raises(kind: QuestionKind, choices: int, body: str) -> None:
    """Any text at all is an answer or None, never an error."""
    value = read_answer(kind, choices, body)
    assert value is None or isinstance(value, int | str)


def test_a_digit_in_range_answers_and_closes() -> None:
    """`2` answers the choice; the member is thanked and told the next question follows."""
    outcome = run("2", asked())
    assert outcome.reply == Reply("survey_answered")
    assert outcome.effects == (AnswerSurvey(5, 12, 2), CloseQuestion())


def test_yes_and_no_words_are_the_first_two_options() -> None:
    """是 / 否 are 1 / 2, as for every question."""
    assert run("是", asked()).effects[0] == AnswerSurvey(5, 12, 1)
    assert run("否", asked()).effects[0] == AnswerSurvey(5, 12, 2)


def test_the_last_question_says_the_survey_is_done() -> None:
    """The last answer is thanked for the whole survey."""
    assert run("1", asked(last=True)).reply == Reply("survey_finished")


def test_out_of_range_asks_again_once_then_passes() -> None:
    """`7` to three options: asked again (kept for the branch); once more: passed."""
    first = run("7", asked())
    assert first.reply == Reply("survey_question", {"question": Learned.SURVEY_QUESTION})
    assert first.effects == (AskSurveyAgain(5, 12),)
    assert first.handled is False
    second = run("7", asked(again=True))
    assert second.reply == Reply("survey_skipped")
    assert second.effects == (PassSurvey(5, 12), CloseQuestion())
    assert run("7", asked(again=True, last=True)).reply == Reply("survey_finished")


def test_a_long_text_is_kept_whole() -> None:
    """A text answer over one segment is the answer, all of it."""
    text = "我在东莞长安镇的一家电子厂做质检员," * 6
    outcome = run(text, asked("text", 0))
    assert outcome.effects[0] == AnswerSurvey(5, 12, text.strip())


def test_a_keyword_is_its_command_while_a_survey_question_is_open() -> None:
    """`HB 1` is a report, the survey question is closed (the tick asks it again later)."""
    outcome = run("HB 1", asked())
    assert isinstance(outcome.effects[0], SaveReport)
    assert CloseQuestion() in outcome.effects
    assert not any(isinstance(e, AnswerSurvey) for e in outcome.effects)


def test_a_stored_survey_question_reads_back_and_a_broken_one_is_none() -> None:
    """The conversation's JSON round-trips; without its ids it is no question at all."""
    question = asked("number", 0, last=True)
    assert read_question("survey", "answer", question.stored_data()) == question
    assert read_question("survey", "answer", {"kind": "choice"}) is None
    assert read_question("survey", "answer", {"survey": 1, "question": 2, "kind": "x"}) is None
