"""The tips board by phone (致富信息, key 6): a topic, then its approved tips played newest
first. After each: # the next, a digit jumps to that tip, 0 texts it, * back to the topics.
Every tip played counts one listen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ivr_flows.engine import (
    NUMBER_TIMEOUT,
    Audio,
    CallContext,
    CallState,
    HeardTip,
    Input,
    Question,
    Sound,
    Speech,
    Step,
    StepResult,
    TextTip,
    TipInfo,
    ask,
    main_menu,
    prompt,
    retry,
)
from models.deed import TOPIC_BY_DIGIT

NAME = "tips"
BOARD_SIZE = 9  # newest tips per topic: each is reached by one digit


def _topics() -> Question:
    return Question(NAME, "topic", (prompt("tip_topics"),))


def _after(sounds: tuple[Sound, ...] = ()) -> Question:
    return Question(NAME, "after", (*sounds, prompt("tip_after")), timeout=NUMBER_TIMEOUT)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Offer the topics; * the main menu."""
    return ask(ctx, replace(state, tips=(), tip_at=None, topic=None), _topics())


def topic(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Play the newest tip of the topic chosen (or say there is none and ask again)."""
    if given.key == "*":
        return main_menu(ctx, state)
    chosen = TOPIC_BY_DIGIT.get(given.key)
    if chosen is None:
        return retry(ctx, state, given, _topics())
    tips = list(ctx.tips.newest(chosen, BOARD_SIZE))
    if not tips:
        return ask(ctx, state, _topics(), before=(prompt("tips_none"),))
    state = replace(state, topic=chosen, tips=tuple(t.id for t in tips))
    return _play(ctx, state, tips, 0)


def after(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """# the next tip, a digit that tip, 0 text this one, * the topics."""
    if given.key == "*" or state.topic is None or state.tip_at is None:
        return start(state, given, ctx)
    tips = _listed(state, ctx)
    if not tips:
        return start(state, given, ctx)
    at = min(state.tip_at, len(tips) - 1)
    if given.key == "#":
        if at + 1 >= len(tips):
            return ask(ctx, replace(state, tip_at=None), _topics(), before=(prompt("tips_end"),))
        return _play(ctx, state, tips, at + 1)
    if given.key == "0":
        return ask(
            ctx,
            state,
            _after(),
            before=(prompt("tip_texted"),),
            effects=[TextTip(tips[at].id)],
        )
    if given.key.isdigit() and 1 <= int(given.key) <= len(tips):
        return _play(ctx, state, tips, int(given.key) - 1)
    return retry(ctx, state, given, _after())


def _listed(state: CallState, ctx: CallContext) -> list[TipInfo]:
    """The tips read out for this call, as they are now (one withdrawn since is left out)."""
    if state.topic is None:
        return []
    current = {t.id: t for t in ctx.tips.newest(state.topic, BOARD_SIZE)}
    return [current[i] for i in state.tips if i in current]


def _play(ctx: CallContext, state: CallState, tips: list[TipInfo], index: int) -> StepResult:
    tip = tips[index]
    body: Sound = Audio(tip.audio_url) if tip.audio_url else Speech(tip.text)
    intro = prompt("tip_intro", position=index + 1, count=len(tips))
    return ask(
        ctx,
        replace(state, tips=tuple(t.id for t in tips), tip_at=index),
        _after((intro, body)),
        effects=[HeardTip(tip.id)],
    )


STEPS: Mapping[str, Step] = {"start": start, "topic": topic, "after": after}
