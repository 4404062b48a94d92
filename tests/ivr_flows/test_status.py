"""Status update by phone: nothing changed, a new city, a new employer."""

from __future__ import annotations

from ivr_flows.engine import StoreRecording
from ivr_flows.state import CallState
from models.call import RecordingKind
from tests.ivr_flows.helpers import RECORDING, action, record, run, said, verbs, zh


def test_start_offers_the_status_choices() -> None:
    """1 nothing changed, 2 city, 3 employer."""
    result = run("status", "start")
    assert said(result) == [zh("status_menu")]
    assert action(result) == "/voice/status/choose"


def test_nothing_changed_is_confirmed_with_thanks() -> None:
    """1: thanks and goodbye, nothing to store."""
    result = run("status", "choose", digits="1")
    assert said(result) == [zh("status_confirmed")]
    assert verbs(result) == ["Say", "Hangup"]
    assert result.effects == []


def test_a_new_city_is_recorded_then_the_employer_offered() -> None:
    """2: record the city (not attached to a report), then ask about the employer."""
    result = run("status", "choose", digits="2")
    assert record(result).get("action") == "/voice/status/city"
    recorded = run("status", "city", result.state, recording=RECORDING)
    assert recorded.effects == [StoreRecording(RecordingKind.NEW_CITY, RECORDING, attach=None)]
    assert action(recorded) == "/voice/status/employer_too"
    done = run("status", "employer_too", recorded.state, digits="2")
    assert said(done) == [zh("status_done")]
    both = run("status", "employer_too", recorded.state, digits="1")
    assert record(both).get("action") == "/voice/status/employer"


def test_a_new_employer_is_recorded() -> None:
    """3: record the employer and finish."""
    result = run("status", "choose", digits="3")
    recorded = run("status", "employer", result.state, recording=RECORDING)
    assert recorded.effects == [StoreRecording(RecordingKind.NEW_EMPLOYER, RECORDING, attach=None)]
    assert said(recorded) == [zh("status_done")]


def test_silence_at_the_tone_asks_again() -> None:
    """No recording: the reason, then the tone again."""
    result = run("status", "city", CallState(tries=0))
    assert said(result) == [zh("no_recording"), zh("record_city")]
    assert record(result).get("action") == "/voice/status/city"


def test_wrong_keys_and_star() -> None:
    """A key outside 1-3 asks again; * is the main menu."""
    assert said(run("status", "choose", digits="9"))[0] == zh("wrong_key")
    assert action(run("status", "choose", digits="*")) == "/voice/menu/choose"
    assert said(run("status", "employer_too", digits="7"))[0] == zh("wrong_key")
