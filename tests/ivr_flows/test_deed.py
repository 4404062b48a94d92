"""A deed for home by phone (key 5): the item, a tip's topic, then spoken after the tone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ivr_flows.engine import SaveDeed
from ivr_flows.state import CallState
from models.deed import TipTopic
from tests.ivr_flows.helpers import RECORDING, action, record, run, said, verbs, zh


def test_five_on_the_main_menu_asks_for_the_item() -> None:
    """5 from the main menu: the five ones, * back."""
    result = run("menu", "choose", digits="5")
    assert said(result) == [zh("deed_items")]
    assert action(result) == "/voice/deed/item"


@pytest.mark.parametrize("key", ["2", "3", "4", "5"])
def test_an_item_other_than_a_tip_goes_to_the_recording(key: str) -> None:
    """Items 2-5 are recorded at once, up to two minutes."""
    result = run("deed", "item", digits=key)
    assert result.state.deed_item == int(key) and result.state.topic is None
    assert record(result).get("action") == "/voice/deed/recorded"
    assert record(result).get("maxLength") == "120"
    assert result.effects == []


def test_a_tip_asks_its_topic_first() -> None:
    """Item 1 (a tip) asks the topic, then records."""
    result = run("deed", "item", digits="1")
    assert said(result) == [zh("tip_topics")] and action(result) == "/voice/deed/topic"
    recorded = run("deed", "topic", result.state, digits="2")
    assert recorded.state.topic is TipTopic.JOBS
    assert record(recorded).get("action") == "/voice/deed/recorded"


def test_the_recording_is_kept_as_the_deed() -> None:
    """The recording becomes the deed, with its item and topic; then goodbye."""
    state = CallState(deed_item=1, topic=TipTopic.FARMING)
    result = run("deed", "recorded", state, recording=RECORDING)
    assert result.effects == [SaveDeed(1, TipTopic.FARMING, RECORDING)]
    assert said(result) == [zh("deed_done")]
    assert verbs(result)[-1] == "Hangup"


def test_a_recording_under_two_seconds_is_kept_and_asked_again() -> None:
    """One second: kept (never offered), and the caller is asked to record again."""
    short = replace(RECORDING, duration=1)
    result = run("deed", "recorded", CallState(deed_item=4), recording=short)
    assert result.effects == [SaveDeed(4, None, short)]
    assert said(result)[:2] == [zh("deed_too_short"), zh("record_deed")]
    assert result.state.tries == 1 and result.state.deed_item == 4
    last = run("deed", "recorded", CallState(deed_item=4, tries=2), recording=short)
    assert last.effects == [SaveDeed(4, None, short)] and said(last) == [zh("deed_done")]


@pytest.mark.parametrize(
    ("step", "key"), [("item", "6"), ("item", "0"), ("item", "#"), ("topic", "9")]
)
def test_wrong_keys_ask_again(step: str, key: str) -> None:
    """A key outside the choices asks again with the reason; nothing is kept."""
    result = run("deed", step, CallState(deed_item=1), digits=key)
    assert said(result)[0] == zh("wrong_key") and result.effects == []


def test_silence_at_the_tone_and_star() -> None:
    """No recording asks again, then goodbye; * goes to the main menu; a lost item starts over."""
    again = run("deed", "recorded", CallState(deed_item=3))
    assert said(again)[0] == zh("no_recording") and again.effects == []
    assert said(run("deed", "recorded", CallState(deed_item=3, tries=2))) == [zh("goodbye_retry")]
    assert action(run("deed", "item", digits="*")) == "/voice/menu/choose"
    assert action(run("deed", "recorded", CallState(), recording=RECORDING)) == "/voice/deed/item"
