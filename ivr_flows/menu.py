"""The main menu: 1 report, 2 lessons, 3 status update, 4 help, 5 a deed for home, 6 the
tips board, 0 message, * repeat."""

from __future__ import annotations

from collections.abc import Mapping

from ivr_flows import deed, lessons, message, report, status, survey, tips
from ivr_flows import help as help_flow
from ivr_flows.engine import (
    CallContext,
    CallState,
    Input,
    Step,
    StepResult,
    ask,
    main_menu,
    main_menu_question,
    prompt,
    retry,
)

NAME = "menu"

# Keys of the main menu and the flow each one starts (the README lists the same).
CHOICES: Mapping[str, Step] = {
    "1": report.start,
    "2": lessons.start,
    "3": status.start,
    "4": help_flow.start,
    "5": deed.start,
    "6": tips.start,
    "0": message.start,
}


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Greet a known caller by name and offer the menu; a caller with an open survey is first
    offered it, and one who stopped in a lesson is asked whether to continue it."""
    greeting = (prompt("greeting", name=ctx.name),) if ctx.name else ()
    return (
        survey.offer(ctx, state, greeting)
        or lessons.offer_resume(ctx, state, greeting)
        or main_menu(ctx, state, greet=True)
    )


def choose(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Start the chosen flow; * hears the menu again; anything else asks again with the reason."""
    if given.key == "*":
        return ask(ctx, state, main_menu_question(ctx), tries=state.tries)
    chosen = CHOICES.get(given.key)
    if chosen is None:
        return retry(ctx, state, given, main_menu_question(ctx))
    return chosen(state, Input(at=given.at), ctx)


STEPS: Mapping[str, Step] = {"start": start, "choose": choose}
