"""A caller whose number is not registered: a short explanation, then name and village spoken
after the tone, for the branch to match."""

from __future__ import annotations

from collections.abc import Mapping

from ivr_flows.engine import Step
from ivr_flows.recording import OneRecording
from models.call import RecordingKind

NAME = "unknown"
INTRODUCTION_SECONDS = 60

FLOW = OneRecording(
    NAME, "unknown_intro", INTRODUCTION_SECONDS, RecordingKind.UNKNOWN_CALLER, "unknown_done"
)
start = FLOW.start
recorded = FLOW.recorded

STEPS: Mapping[str, Step] = FLOW.steps()
