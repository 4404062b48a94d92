"""Status update by phone: confirm nothing changed, or say the new city or employer."""

from __future__ import annotations

from collections.abc import Mapping

from ivr_flows.engine import (
    CallContext,
    CallState,
    Input,
    Question,
    RecordQuestion,
    Step,
    StepResult,
    ask,
    goodbye,
    keep_recording,
    main_menu,
    prompt,
    retry,
)
from models.call import RecordingKind

NAME = "status"
PLACE_SECONDS = 30


def _menu() -> Question:
    return Question(NAME, "choose", (prompt("status_menu"),))


def _city() -> RecordQuestion:
    return RecordQuestion(NAME, "city", (prompt("record_city"),), PLACE_SECONDS)


def _employer_too() -> Question:
    return Question(NAME, "employer_too", (prompt("ask_employer_too"),))


def _employer() -> RecordQuestion:
    return RecordQuestion(NAME, "employer", (prompt("record_employer"),), PLACE_SECONDS)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 nothing changed, 2 a new city, 3 a new employer, * the main menu."""
    return ask(ctx, state, _menu())


def choose(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Thank the member, or ask for the new city or employer after the tone."""
    if given.key == "1":
        return goodbye(ctx, state, "status_confirmed")
    if given.key == "2":
        return ask(ctx, state, _city())
    if given.key == "3":
        return ask(ctx, state, _employer())
    if given.key == "*":
        return main_menu(ctx, state)
    return retry(ctx, state, given, _menu())


def city(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Keep the spoken city for the branch; ask whether the employer changed too."""
    return keep_recording(ctx, state, given, _city(), RecordingKind.NEW_CITY, then=_employer_too())


def employer_too(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 records the new employer too, 2 finishes."""
    if given.key == "1":
        return ask(ctx, state, _employer())
    if given.key == "2":
        return goodbye(ctx, state, "status_done")
    return retry(ctx, state, given, _employer_too())


def employer(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Keep the spoken employer for the branch and finish."""
    return keep_recording(
        ctx, state, given, _employer(), RecordingKind.NEW_EMPLOYER, done="status_done"
    )


STEPS: Mapping[str, Step] = {
    "start": start,
    "choose": choose,
    "city": city,
    "employer_too": employer_too,
    "employer": employer,
}
