"""A spoken message for the branch, which the branch sees in its inbox."""

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

NAME = "message"
MESSAGE_SECONDS = 120


def _message() -> RecordQuestion:
    return RecordQuestion(NAME, "recorded", (prompt("record_message"),), MESSAGE_SECONDS)


def start(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Ask for the message after the tone."""
    return ask(ctx, state, _message())


def recorded(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Keep the message for the branch and say goodbye."""
    if given.recording is None:
        return retry(ctx, state, given, _message())
    effect = StoreRecording(RecordingKind.MESSAGE, given.recording)
    return goodbye(ctx, state, "message_done", effects=[effect])


STEPS: Mapping[str, Step] = {"start": start, "recorded": recorded}
