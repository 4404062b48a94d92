"""A request for help by phone: the category by key, then the details spoken after the tone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ivr_flows.engine import (
    MAX_RETRIES,
    CallContext,
    CallState,
    Effect,
    Input,
    OpenHelp,
    Question,
    RecordQuestion,
    Step,
    StepResult,
    StoreRecording,
    ask,
    goodbye,
    main_menu,
    prompt,
    retry,
    spell,
)
from models.call import RecordingKind
from models.help import CATEGORY_BY_DIGIT

NAME = "help"
DETAILS_SECONDS = 120


def _categories() -> Question:
    return Question(NAME, "category", (prompt("help_categories"),))


def _details() -> RecordQuestion:
    return RecordQuestion(NAME, "recorded", (prompt("record_help"),), DETAILS_SECONDS)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Ask for the category: 1 wages ... 7 other, * the main menu."""
    return ask(ctx, state, _categories())


def category(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Open the help request at once (a hang-up keeps it), then record the details."""
    if given.key == "*":
        return main_menu(ctx, state)
    chosen = CATEGORY_BY_DIGIT.get(given.key)
    if chosen is None:
        return retry(ctx, state, given, _categories())
    return ask(ctx, replace(state, help=chosen), _details(), effects=[OpenHelp(chosen)])


def recorded(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Attach the spoken details to the help request, read out its reference, say goodbye.

    The request was opened with the category (the voice handler put its reference in the
    state); so when no recording comes after the last try, the reference is still read out.
    """
    if given.recording is None and state.tries < MAX_RETRIES:
        return retry(ctx, state, given, _details())
    effects: list[Effect] = []
    if given.recording is not None:
        effects.append(StoreRecording(RecordingKind.HELP, given.recording, attach="help"))
    if not state.help_ref:
        return goodbye(ctx, state, "help_done", effects=effects)
    return goodbye(ctx, state, "help_done_ref", effects=effects, ref=spell(state.help_ref))


STEPS: Mapping[str, Step] = {"start": start, "category": category, "recorded": recorded}
