"""A call we place: a machine is hung up on and tried later; a person hears a greeting and the
lesson (then "press 1 when you have finished"), or the main menu for a missed-call callback."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import VoiceResponse

from ivr_flows import lessons, survey
from ivr_flows.engine import (
    CallContext,
    CallState,
    Input,
    MarkForRetry,
    Speech,
    Step,
    StepResult,
    main_menu,
    prompt,
    speak,
)
from ivr_flows.state import AfterLesson

NAME = "outbound"
# Twilio's AnsweredBy values that are not a person: machine_start, machine_end_beep, ... fax.
MACHINE_PREFIXES = ("machine", "fax")


def is_machine(answered_by: str | None) -> bool:
    """Whether machine detection says no person answered."""
    return bool(answered_by) and str(answered_by).startswith(MACHINE_PREFIXES)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Hang up on a machine; greet a person and read the call's notice, play its lesson, or
    offer the menu.

    The voice handler seeds the state with the call's `lesson` number, the `notice` words
    of a call standing in for a text that failed, or the `survey` a survey call asks.
    """
    if is_machine(given.answered_by):
        response = VoiceResponse()
        response.hangup()
        return StepResult(response, state, [MarkForRetry(str(given.answered_by))], None)
    if state.notice:
        return read_notice(ctx, state, state.notice)
    if state.survey is not None:
        return survey.greet(ctx, state)
    lesson = ctx.lessons.find(state.lesson) if state.lesson is not None else None
    if lesson is None:
        hello = (prompt("greeting", name=ctx.name),) if ctx.name else ()
        return lessons.offer_resume(ctx, state, hello) or main_menu(ctx, state, greet=True)
    greeting = prompt("outbound_greeting", name=ctx.name or "")
    return lessons.play(
        ctx, state, lesson, given.at, queue=(), after=AfterLesson.GOODBYE, before=(greeting,)
    )


def read_notice(ctx: CallContext, state: CallState, words: str) -> StepResult:
    """Say a notice twice, then goodbye: a short call that needs no key."""
    response = VoiceResponse()
    speak(response, ctx, prompt("notice_greeting", name=ctx.name or ""))
    speak(response, ctx, Speech(words))
    speak(response, ctx, prompt("notice_again"))
    speak(response, ctx, Speech(words))
    speak(response, ctx, prompt("notice_goodbye"))
    response.hangup()
    return StepResult(response, state, [], None)


STEPS: Mapping[str, Step] = {"start": start}
