"""A caller whose number is not registered: a short explanation, then name and village spoken
after the tone, for the branch to match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr_flows.engine import (
    CallContext,
    Input,
    RecordQuestion,
    Step,
    StepResult,
    StoreRecording,
    ask,
    goodbye,
    prompt,
    retry,
)
from models.call import RecordingKind

NAME = "unknown"
INTRODUCTION_SECONDS = 60


def _introduction() -> RecordQuestion:
    return RecordQuestion(NAME, "recorded", (prompt("unknown_intro"),), INTRODUCTION_SECONDS)


def start(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Explain the number is not registered and ask for name and village."""
    return ask(ctx, state, _introduction())


def recorded(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Keep the introduction for the branch and say goodbye."""
    if given.recording is None:
        return retry(ctx, state, given, _introduction())
    effect = StoreRecording(RecordingKind.UNKNOWN_CALLER, given.recording)
    return goodbye(ctx, state, "unknown_done", effects=[effect])


STEPS: Mapping[str, Step] = {"start": start, "recorded": recorded}
