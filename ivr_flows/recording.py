"""A flow that asks for one recording after the tone, keeps it for the branch, and hangs up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr_flows.engine import (
    CallContext,
    CallState,
    Input,
    RecordQuestion,
    Step,
    StepResult,
    ask,
    keep_recording,
    prompt,
)
from models.call import RecordingKind


@dataclass(frozen=True)
class OneRecording:
    """The two steps of such a flow: ask (`start`), then keep the recording (`recorded`)."""

    flow: str
    prompt_key: str
    max_length: int
    kind: RecordingKind
    done: str

    def question(self) -> RecordQuestion:
        """The question asked after the tone."""
        return RecordQuestion(self.flow, "recorded", (prompt(self.prompt_key),), self.max_length)

    def start(self, state: CallState, given: Input, ctx: CallContext) -> StepResult:
        """Ask for the recording after the tone."""
        return ask(ctx, state, self.question())

    def recorded(self, state: CallState, given: Input, ctx: CallContext) -> StepResult:
        """Keep the recording for the branch and say goodbye."""
        return keep_recording(ctx, state, given, self.question(), self.kind, done=self.done)

    def steps(self) -> Mapping[str, Step]:
        """The flow's steps by name."""
        return {"start": self.start, "recorded": self.recorded}
