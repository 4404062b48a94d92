"""A spoken message for the branch, which the branch sees in its inbox."""

from __future__ import annotations

from collections.abc import Mapping

from ivr_flows.engine import Step
from ivr_flows.recording import OneRecording
from models.call import RecordingKind

NAME = "message"
MESSAGE_SECONDS = 120

FLOW = OneRecording(NAME, "record_message", MESSAGE_SECONDS, RecordingKind.MESSAGE, "message_done")
start = FLOW.start
recorded = FLOW.recorded

STEPS: Mapping[str, Step] = FLOW.steps()
