"""The monthly report by keypad: studied? same city? same employer? (a recording when not),
then an optional spoken thought report. Every answer is saved as it is given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ivr_flows.engine import (
    CallContext,
    CallState,
    Input,
    Question,
    RecordQuestion,
    RecordReport,
    Step,
    StepResult,
    StoreRecording,
    ask,
    goodbye,
    keep_recording,
    main_menu,
    prompt,
    retry,
    spell,
)
from ivr_flows.state import ReportAnswers
from models.call import RecordingKind

NAME = "report"
YES_NO = {"1": True, "2": False}
PLACE_SECONDS = 30  # saying a city or an employer
THOUGHT_REPORT_SECONDS = 120


def _again(ctx: CallContext) -> Question:
    return Question(NAME, "again", (prompt("report_again", receipt=spell(ctx.receipt)),))


def _studied() -> Question:
    return Question(NAME, "studied", (prompt("ask_studied"),))


def _same_city(ctx: CallContext) -> Question:
    sound = prompt("ask_same_city", city=ctx.city) if ctx.city else prompt("ask_same_city_unknown")
    return Question(NAME, "same_city", (sound,))


def _city() -> RecordQuestion:
    return RecordQuestion(NAME, "city", (prompt("record_city"),), PLACE_SECONDS)


def _same_employer(ctx: CallContext) -> Question:
    sound = (
        prompt("ask_same_employer", employer=ctx.employer)
        if ctx.employer
        else prompt("ask_same_employer_unknown")
    )
    return Question(NAME, "same_employer", (sound,))


def _employer() -> RecordQuestion:
    return RecordQuestion(NAME, "employer", (prompt("record_employer"),), PLACE_SECONDS)


def _thought() -> Question:
    return Question(NAME, "thought", (prompt("ask_thought_report"),))


def _thought_recording() -> RecordQuestion:
    return RecordQuestion(
        NAME, "thought_recorded", (prompt("record_thought_report"),), THOUGHT_REPORT_SECONDS
    )


def _save(state: CallState, answers: ReportAnswers) -> tuple[CallState, RecordReport]:
    """The state with the answers so far noted as saved, and the effect that saves them (a
    first save makes a revision, the next ones amend it)."""
    effect = RecordReport(
        studied=answers.studied,
        same_city=answers.same_city,
        same_employer=answers.same_employer,
        amend=answers.saved,
    )
    return replace(state, report=replace(answers, saved=True)), effect


def _done(ctx: CallContext, state: CallState, *effects: StoreRecording) -> StepResult:
    if ctx.receipt:
        return goodbye(ctx, state, "report_done", effects=effects, receipt=spell(ctx.receipt))
    return goodbye(ctx, state, "report_done_plain", effects=effects)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Ask whether the member studied; first say so if this month is already reported."""
    state = replace(state, report=ReportAnswers())
    if ctx.receipt:
        return ask(ctx, state, _again(ctx))
    return ask(ctx, state, _studied())


def again(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 reports again (a new revision), * goes back to the main menu."""
    if given.key == "1":
        return ask(ctx, state, _studied())
    if given.key == "*":
        return main_menu(ctx, state)
    return retry(ctx, state, given, _again(ctx))


def studied(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 studied, 2 not: saved at once; then ask about the city."""
    answer = YES_NO.get(given.key)
    if answer is None:
        return retry(ctx, state, given, _studied())
    state, effect = _save(state, replace(state.report, studied=answer))
    return ask(ctx, state, _same_city(ctx), effects=[effect])


def same_city(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 same city (ask about the employer), 2 moved (record the new city)."""
    answer = YES_NO.get(given.key)
    if answer is None:
        return retry(ctx, state, given, _same_city(ctx))
    state, effect = _save(state, replace(state.report, same_city=answer))
    return ask(ctx, state, _same_employer(ctx) if answer else _city(), effects=[effect])


def city(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Keep the spoken new city with the report; then ask about the employer."""
    return keep_recording(
        ctx,
        state,
        given,
        _city(),
        RecordingKind.NEW_CITY,
        attach="report",
        then=_same_employer(ctx),
    )


def same_employer(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 same employer (offer the thought report), 2 changed (record the new employer)."""
    answer = YES_NO.get(given.key)
    if answer is None:
        return retry(ctx, state, given, _same_employer(ctx))
    state, effect = _save(state, replace(state.report, same_employer=answer))
    return ask(ctx, state, _thought() if answer else _employer(), effects=[effect])


def employer(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Keep the spoken new employer with the report; then offer the thought report."""
    return keep_recording(
        ctx, state, given, _employer(), RecordingKind.NEW_EMPLOYER, attach="report", then=_thought()
    )


def thought(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 records a thought report, 2 finishes."""
    if given.key == "1":
        return ask(ctx, state, _thought_recording())
    if given.key == "2":
        return _done(ctx, state)
    return retry(ctx, state, given, _thought())


def thought_recorded(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Keep the thought report with this month's report, give the receipt and say goodbye."""
    if given.recording is None:
        return retry(ctx, state, given, _thought_recording())
    return _done(
        ctx, state, StoreRecording(RecordingKind.THOUGHT_REPORT, given.recording, attach="report")
    )


STEPS: Mapping[str, Step] = {
    "start": start,
    "again": again,
    "studied": studied,
    "same_city": same_city,
    "city": city,
    "same_employer": same_employer,
    "employer": employer,
    "thought": thought,
    "thought_recorded": thought_recorded,
}
