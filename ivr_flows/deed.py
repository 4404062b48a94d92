"""A deed for home by phone: the item of 五个一 by key (a tip's topic too), then spoken after
the tone. A recording too short to confirm is kept (never offered) and asked for again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ivr_flows.engine import (
    MAX_RETRIES,
    CallContext,
    CallState,
    Input,
    Question,
    RecordQuestion,
    SaveDeed,
    Step,
    StepResult,
    ask,
    goodbye,
    main_menu,
    prompt,
    retry,
)
from models.deed import MIN_RECORDING_SECONDS, TIP_ITEM, TOPIC_BY_DIGIT, valid_item

NAME = "deed"
DETAILS_SECONDS = 120


def _items() -> Question:
    return Question(NAME, "item", (prompt("deed_items"),))


def _topics() -> Question:
    return Question(NAME, "topic", (prompt("tip_topics"),))


def _record() -> RecordQuestion:
    return RecordQuestion(NAME, "recorded", (prompt("record_deed"),), DETAILS_SECONDS)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Ask which of the five ones: 1-5, * the main menu."""
    return ask(ctx, replace(state, deed_item=None, topic=None), _items())


def item(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """A tip (1) asks its topic; the other items go straight to the recording."""
    if given.key == "*":
        return main_menu(ctx, state)
    chosen = int(given.key) if given.key.isdigit() and len(given.key) == 1 else None
    if not valid_item(chosen):
        return retry(ctx, state, given, _items())
    state = replace(state, deed_item=chosen)
    if chosen == TIP_ITEM:
        return ask(ctx, state, _topics())
    return ask(ctx, state, _record())


def topic(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """The tip's topic: 1-5, * the main menu."""
    if given.key == "*":
        return main_menu(ctx, state)
    chosen = TOPIC_BY_DIGIT.get(given.key)
    if chosen is None:
        return retry(ctx, state, given, _topics())
    return ask(ctx, replace(state, topic=chosen), _record())


def recorded(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Keep the spoken deed and say goodbye. No recording asks again; one under two seconds is
    kept but cannot be confirmed, so it is asked for again too (within the same tries)."""
    if state.deed_item is None:
        return start(state, given, ctx)
    recording = given.recording
    if recording is None:
        return retry(ctx, state, given, _record())
    effect = SaveDeed(state.deed_item, state.topic, recording)
    if (recording.duration or 0) < MIN_RECORDING_SECONDS and state.tries < MAX_RETRIES:
        again = retry(ctx, state, given, _record(), reason="deed_too_short")
        again.effects.insert(0, effect)
        return again
    return goodbye(ctx, replace(state, deed_item=None, topic=None), "deed_done", effects=[effect])


STEPS: Mapping[str, Step] = {"start": start, "item": item, "topic": topic, "recorded": recorded}
