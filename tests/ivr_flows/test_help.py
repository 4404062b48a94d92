"""Help by phone: the category, then the details recorded."""

from __future__ import annotations

import pytest

from ivr_flows.engine import OpenHelp, StoreRecording
from ivr_flows.state import CallState
from models.call import RecordingKind
from models.help import HelpCategory
from tests.ivr_flows.helpers import RECORDING, action, record, run, said, zh


def test_start_asks_for_the_category() -> None:
    """4 from the menu: seven categories."""
    result = run("help", "start")
    assert said(result) == [zh("help_categories")]
    assert action(result) == "/voice/help/category"


@pytest.mark.parametrize(
    ("key", "category"),
    [("1", HelpCategory.WAGES), ("5", HelpCategory.DISPUTE), ("7", HelpCategory.OTHER)],
)
def test_the_category_opens_the_request_at_once(key: str, category: HelpCategory) -> None:
    """The request is opened with the key (a hang-up keeps it), then the details are recorded."""
    result = run("help", "category", digits=key)
    assert result.effects == [OpenHelp(category)]
    assert record(result).get("maxLength") == "120"
    assert record(result).get("action") == "/voice/help/recorded"
    assert said(result) == [zh("record_help")]


def test_the_details_are_attached_to_the_request() -> None:
    """The recording goes with the help request of this call, and its reference is read."""
    result = run(
        "help", "recorded", CallState(help=HelpCategory.WAGES, help_ref="QZ7"), recording=RECORDING
    )
    assert result.effects == [StoreRecording(RecordingKind.HELP, RECORDING, attach="help")]
    assert said(result) == [zh("help_done_ref", ref="Q Z 7")]


def test_without_a_reference_the_goodbye_names_none() -> None:
    """A request whose reference is unknown to the call still ends politely."""
    result = run("help", "recorded", CallState(help=HelpCategory.WAGES), recording=RECORDING)
    assert said(result) == [zh("help_done")]


def test_wrong_category_silence_and_star() -> None:
    """8 is no category; silence at the tone asks again; * is the main menu."""
    assert said(run("help", "category", digits="8"))[0] == zh("wrong_key")
    assert said(run("help", "recorded", CallState(tries=1)))[0] == zh("no_recording")
    # The request is open already: after the last try the caller still hears its reference.
    assert said(run("help", "recorded", CallState(tries=2, help_ref="QZ3"))) == [
        zh("help_done_ref", ref="Q Z 3")
    ]
    assert action(run("help", "category", digits="*")) == "/voice/menu/choose"
