"""A message for the branch, and the unknown caller's introduction."""

from __future__ import annotations

from ivr_flows.engine import StoreRecording
from ivr_flows.state import CallState
from models.call import RecordingKind
from tests.ivr_flows.helpers import RECORDING, context, record, run, said, verbs, zh


def test_a_message_for_the_branch_is_recorded() -> None:
    """0 from the menu: the tone, then the message kept for the branch's inbox."""
    asked = run("message", "start")
    assert record(asked).get("action") == "/voice/message/recorded"
    result = run("message", "recorded", asked.state, recording=RECORDING)
    assert result.effects == [StoreRecording(RecordingKind.MESSAGE, RECORDING)]
    assert said(result) == [zh("message_done")]
    assert verbs(result) == ["Say", "Hangup"]


def test_silence_instead_of_a_message_asks_again_then_goodbye() -> None:
    """No recording twice asks again, the third time says goodbye."""
    first = run("message", "recorded", CallState(tries=0))
    assert said(first) == [zh("no_recording"), zh("record_message")]
    last = run("message", "recorded", CallState(tries=2))
    assert said(last) == [zh("goodbye_retry")]


def test_an_unknown_caller_hears_why_and_records_name_and_village() -> None:
    """Not registered: the explanation, then name and village after the tone."""
    stranger = context(known=False, name=None)
    asked = run("unknown", "start", ctx=stranger)
    assert said(asked) == [zh("unknown_intro")]
    assert record(asked).get("maxLength") == "60"
    result = run("unknown", "recorded", asked.state, recording=RECORDING, ctx=stranger)
    assert result.effects == [StoreRecording(RecordingKind.UNKNOWN_CALLER, RECORDING)]
    assert said(result) == [zh("unknown_done")]
