"""Voice menus: one module per flow; each step is a pure function of (state, input)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ivr_flows import (
    deed,
    lessons,
    menu,
    message,
    outbound,
    report,
    status,
    survey,
    tips,
    unknown,
)
from ivr_flows import help as help_flow
from ivr_flows.engine import (
    CallContext,
    Effect,
    Input,
    Step,
    StepResult,
    main_menu,
    prompt,
)
from ivr_flows.state import CallState

# The flows a caller who is not a registered member may be in.
OPEN_FLOWS = frozenset({"unknown", "outbound"})

FLOWS: Mapping[str, Mapping[str, Step]] = {
    module.NAME: module.STEPS
    for module in (
        menu,
        report,
        lessons,
        status,
        help_flow,
        deed,
        tips,
        message,
        unknown,
        outbound,
        survey,
    )
}


def run_step(flow: str, step: str, state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Run one step of a flow; an unknown flow or step starts over, and so does a caller who is
    not a member anywhere but the unknown-caller flow."""
    handler = FLOWS.get(flow, {}).get(step)
    if handler is None or (not ctx.known and flow not in OPEN_FLOWS):
        return recover(state, given, ctx)
    return handler(state, given, ctx)


def recover(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Start again after a request we cannot place: the main menu, or the unknown-caller flow."""
    if not ctx.known:
        return unknown.start(state, given, ctx)
    return main_menu(ctx, replace(state, tries=0), before=(prompt("sorry"),))


def on_hangup(state: CallState, at: float) -> list[Effect]:
    """Effects owed when a call ends mid-flow (a lesson that was playing)."""
    return lessons.on_hangup(state, at)


__all__ = ["FLOWS", "CallState", "on_hangup", "recover", "run_step"]
