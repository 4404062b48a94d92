"""The survey flow's steps, pure: what is asked, what each key gives, and where it goes."""

from __future__ import annotations

from ivr_flows.engine import AnswerSurvey, PassSurveyQuestion, SurveyInfo, SurveyItem
from ivr_flows.prompts import text
from ivr_flows.state import CallState
from tests.ivr_flows.helpers import RECORDING, context, run

SURVEY = SurveyInfo(
    7,
    "五个摸清",
    (
        SurveyItem(70, 0, "choice", "外出原因?", ("务工", "经商")),
        SurveyItem(71, 1, "number", "哪一年外出?"),
        SurveyItem(72, 2, "text", "工作单位?"),
    ),
    0,
)


def _said(result: object) -> str:
    return str(result.twiml)  # type: ignore[attr-defined]


def test_the_hotline_offers_an_open_survey_before_the_menu() -> None:
    result = run("menu", "start", ctx=context(survey=SURVEY))
    assert text("survey_offer", "zh_CN", title="五个摸清") in _said(result)
    assert result.waiting_at == ("survey", "offer")
    plain = run("menu", "start", ctx=context())
    assert plain.waiting_at == ("menu", "choose")


def test_a_finished_survey_is_not_offered() -> None:
    done = SurveyInfo(SURVEY.id, SURVEY.title, SURVEY.questions, 3)
    assert run("menu", "start", ctx=context(survey=done)).waiting_at == ("menu", "choose")


def test_keys_answer_choices_and_numbers_and_a_recording_the_text() -> None:
    ctx = context(survey=SURVEY)
    state = CallState(survey_question=70)
    chose = run("survey", "answer", state, digits="2", ctx=ctx)
    assert chose.effects == [AnswerSurvey(7, 70, choice=2)]
    assert chose.state.survey_question == 71 and "哪一年外出?" in _said(chose)
    numbered = run("survey", "answer", chose.state, digits="2016", ctx=ctx)
    assert numbered.effects == [AnswerSurvey(7, 71, number=2016)]
    assert numbered.waiting_at == ("survey", "recorded")
    spoken = run("survey", "recorded", numbered.state, recording=RECORDING, ctx=ctx)
    assert spoken.effects == [AnswerSurvey(7, 72, recording=RECORDING)]
    assert spoken.waiting_at is None and text("survey_done", "zh_CN") in _said(spoken)


def test_a_miss_asks_again_once_then_passes_the_question() -> None:
    ctx = context(survey=SURVEY)
    first = run("survey", "answer", CallState(survey_question=70), digits="0", ctx=ctx)
    assert first.effects == [] and first.state.tries == 1
    assert first.waiting_at == ("survey", "answer")
    second = run("survey", "answer", first.state, digits="3", ctx=ctx)
    assert second.effects == [PassSurveyQuestion(7, 70)]
    assert second.state.survey_question == 71 and second.state.tries == 0
    silent = run("survey", "recorded", CallState(survey_question=72), ctx=ctx)
    assert silent.effects == [] and silent.waiting_at == ("survey", "recorded")
    twice = run("survey", "recorded", silent.state, ctx=ctx)
    assert twice.effects == [PassSurveyQuestion(7, 72)] and twice.waiting_at is None


def test_the_survey_state_survives_the_call_row() -> None:
    state = CallState(survey=7, survey_question=71)
    assert CallState.from_json(state.to_json()) == state
    assert CallState.from_json({"survey": "x", "survey_question": True}) == CallState()


def test_an_english_member_hears_english_prompts() -> None:
    result = run("survey", "start", ctx=context(language="en", survey=SURVEY))
    assert text("survey_question", "en", number=1) in _said(result)
