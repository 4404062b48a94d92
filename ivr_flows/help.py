"""A request for help by phone: the category by key, then the details spoken after the tone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr_flows.engine import (
    CallContext,
    Input,
    OpenHelp,
    Question,
    RecordQuestion,
    Step,
    StepResult,
    ask,
    keep_recording,
    main_menu,
    prompt,
    retry,
)
from models.call import RecordingKind
from models.help import CATEGORY_BY_DIGIT

NAME = "help"
DETAILS_SECONDS = 120


def _categories() -> Question:
    return Question(NAME, "category", (prompt("help_categories"),))


def _details() -> RecordQuestion:
    return RecordQuestion(NAME, "recorded", (prompt("record_help"),), DETAILS_SECONDS)


def start(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Ask for the category: 1 wages ... 7 other, * the main menu."""
    return ask(ctx, state, _categories())


def category(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Open the help request at once (a hang-up keeps it), then record the details."""
    if given.key == "*":
        return main_menu(ctx, state)
    chosen = CATEGORY_BY_DIGIT.get(given.key)
    if chosen is None:
        return retry(ctx, state, given, _categories())
    state["help"] = chosen.value
    return ask(ctx, state, _details(), effects=[OpenHelp(chosen)])


def recorded(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Attach the spoken details to the help request and say the branch will call."""
    return keep_recording(
        ctx, state, given, _details(), RecordingKind.HELP, attach="help", done="help_done"
    )


STEPS: Mapping[str, Step] = {"start": start, "category": category, "recorded": recorded}
