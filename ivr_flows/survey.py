"""A survey by keypad (三项调查): each choice by one digit (its options read out), each number
by digits then #, each text question spoken after the tone; every answer is kept as it is
given, so a call that ends midway resumes at the next question on the next call (the place is
the member's SurveyRecipient, shared with the SMS channel).

A wrong key (or none, or no recording) asks the question once more; a second miss moves on to
the next question, leaving that one passed. The hotline offers an open survey first
("press 1 to answer it now", anything else the menu).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ivr_flows import lessons
from ivr_flows.engine import (
    NUMBER_TIMEOUT,
    AnswerSurvey,
    CallContext,
    CallState,
    Effect,
    Input,
    PassSurveyQuestion,
    Question,
    RecordQuestion,
    Sound,
    Speech,
    Step,
    StepResult,
    SurveyInfo,
    SurveyItem,
    ask,
    goodbye,
    main_menu,
    prompt,
)

NAME = "survey"
ANSWER_SECONDS = 60  # a spoken answer
MAX_NUMBER_DIGITS = 9  # fits the answer's integer column
# A question is asked again once after a miss, then the survey moves on.
SURVEY_RETRIES = 1


def _question(item: SurveyItem, before: tuple[Sound, ...] = ()) -> Question | RecordQuestion:
    """A question as asked: its number and words, then its options, the number prompt, or the
    tone for a spoken answer."""
    sounds: list[Sound] = [
        *before,
        prompt("survey_question", number=item.position + 1),
        Speech(item.text),
    ]
    if item.kind == "text":
        sounds.append(prompt("survey_record"))
        return RecordQuestion(NAME, "recorded", tuple(sounds), ANSWER_SECONDS)
    if item.kind == "number":
        sounds.append(prompt("survey_number"))
        return Question(NAME, "answer", tuple(sounds), digits=None, timeout=NUMBER_TIMEOUT)
    sounds.extend(
        prompt("survey_option", label=label, digit=digit)
        for digit, label in enumerate(item.choices, 1)
    )
    return Question(NAME, "answer", tuple(sounds))


def ask_item(
    ctx: CallContext,
    state: CallState,
    item: SurveyItem,
    *,
    before: tuple[Sound, ...] = (),
    effects: tuple[Effect, ...] | list[Effect] = (),
    reason: str | None = None,
    tries: int = 0,
) -> StepResult:
    """Ask one survey question, remembering which one it is."""
    state = replace(state, survey_question=item.id)
    return ask(
        ctx, state, _question(item, before), reason=reason, tries=tries, effects=list(effects)
    )


def _done(ctx: CallContext, state: CallState, effects: list[Effect]) -> StepResult:
    return goodbye(ctx, replace(state, survey_question=None), "survey_done", effects=effects)


def begin(ctx: CallContext, state: CallState, before: tuple[Sound, ...] = ()) -> StepResult:
    """Ask the member's next question (saying where a survey left off resumes), or the menu
    when there is nothing to ask."""
    survey = ctx.survey
    item = survey.at(survey.position) if survey is not None else None
    if survey is None or item is None:
        return main_menu(ctx, state, greet=True, before=before)
    if survey.position > 0:
        before = (*before, prompt("survey_resume", number=survey.position + 1))
    return ask_item(ctx, state, item, before=before)


def greet(ctx: CallContext, state: CallState) -> StepResult:
    """A survey call we placed: greet, name the survey, ask the next question."""
    survey = ctx.survey
    if survey is None or survey.at(survey.position) is None:
        hello = (prompt("greeting", name=ctx.name),) if ctx.name else ()
        return main_menu(ctx, state, greet=True, before=hello)
    greeting = prompt(
        "survey_greeting", name=ctx.name or "", title=survey.title, count=len(survey.questions)
    )
    return begin(ctx, state, (greeting,))


def offer_question(ctx: CallContext, survey: SurveyInfo, before: tuple[Sound, ...]) -> Question:
    """The hotline's offer of an open survey."""
    return Question(NAME, "offer", (*before, prompt("survey_offer", title=survey.title)))


def offer(ctx: CallContext, state: CallState, before: tuple[Sound, ...]) -> StepResult | None:
    """Offer the member's open survey before the menu; None when there is none to answer."""
    survey = ctx.survey
    if survey is None or survey.at(survey.position) is None:
        return None
    return ask(ctx, state, offer_question(ctx, survey, before))


def offered(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 answers the survey now; any other key, or none, goes on to the menu."""
    if given.key == "1" and ctx.survey is not None:
        return begin(ctx, state)
    return lessons.offer_resume(ctx, state, ()) or main_menu(ctx, state)


def _asked(state: CallState, ctx: CallContext) -> SurveyItem | None:
    """The question this call asked, else the member's next one."""
    survey = ctx.survey
    if survey is None:
        return None
    return survey.find(state.survey_question) or survey.at(survey.position)


def _then(
    ctx: CallContext, state: CallState, item: SurveyItem, effect: Effect, *, missed: bool = False
) -> StepResult:
    """After an answer (or a question passed): the next question, or goodbye after the last."""
    assert ctx.survey is not None
    following = ctx.survey.at(item.position + 1)
    effects: list[Effect] = [effect]
    before: tuple[Sound, ...] = (prompt("survey_next"),) if missed else ()
    if following is None:
        return _done(ctx, state, effects)
    return ask_item(ctx, state, following, before=before, effects=effects)


def _miss(ctx: CallContext, state: CallState, given: Input, item: SurveyItem) -> StepResult:
    """A wrong key, none, or no recording: ask once more, then pass the question."""
    assert ctx.survey is not None
    if state.tries < SURVEY_RETRIES:
        reason = "no_recording" if item.kind == "text" else "wrong_key" if given.key else "no_input"
        return ask_item(ctx, state, item, reason=reason, tries=state.tries + 1)
    return _then(ctx, state, item, PassSurveyQuestion(ctx.survey.id, item.id), missed=True)


def _reading(item: SurveyItem, key: str) -> AnswerSurvey | None:
    """The answer the keys give to a choice or a number question, None if they give none."""
    if item.kind == "choice":
        if len(key) == 1 and key.isdigit() and 1 <= int(key) <= len(item.choices):
            return AnswerSurvey(0, item.id, choice=int(key))
        return None
    if item.kind == "number" and key.isdigit() and len(key) <= MAX_NUMBER_DIGITS:
        return AnswerSurvey(0, item.id, number=int(key))
    return None


def answer(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """The keys that answer a choice or a number question."""
    item = _asked(state, ctx)
    if ctx.survey is None or item is None:
        return goodbye(ctx, replace(state, survey_question=None), "survey_done")
    if item.kind == "text":
        return ask_item(ctx, state, item)  # the question changed kind: ask it afresh
    reading = _reading(item, given.key)
    if reading is None:
        return _miss(ctx, state, given, item)
    return _then(ctx, replace(state, tries=0), item, replace(reading, survey_id=ctx.survey.id))


def recorded(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """The spoken answer to a text question: kept (a recording of kind survey) with the answer."""
    item = _asked(state, ctx)
    if ctx.survey is None or item is None:
        # The survey closed or was finished meanwhile: nothing to attach the words to.
        return goodbye(ctx, replace(state, survey_question=None), "survey_done")
    if item.kind != "text":
        return ask_item(ctx, state, item)
    if given.recording is None:
        return _miss(ctx, state, given, item)
    effect = AnswerSurvey(ctx.survey.id, item.id, recording=given.recording)
    return _then(ctx, replace(state, tries=0), item, effect)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """The survey from its next question (the phone simulator's and tests' way in)."""
    return begin(ctx, state)


STEPS: Mapping[str, Step] = {
    "start": start,
    "offer": offered,
    "answer": answer,
    "recorded": recorded,
}

__all__ = ["NAME", "STEPS", "begin", "greet", "offer", "offer_question"]
