"""The tips board by phone (key 6): a topic, its tips newest first, # next, a digit to jump,
0 to have it texted, * back; each tip played counts a listen."""

from __future__ import annotations

import pytest

from ivr_flows.engine import HeardTip, TextTip
from ivr_flows.state import CallState
from models.deed import TipTopic
from tests.ivr_flows.helpers import action, played, run, said, zh


def test_six_on_the_main_menu_offers_the_topics() -> None:
    """6 from the main menu: the five topics."""
    result = run("menu", "choose", digits="6")
    assert said(result) == [zh("tip_topics")] and action(result) == "/voice/tips/topic"


def test_a_topic_plays_its_newest_tip_and_counts_it() -> None:
    """The newest tip first, spoken from its text; one listen for it."""
    result = run("tips", "topic", digits="2")
    assert said(result)[:2] == [zh("tip_intro", position=1, count=3), "东莞长安电子厂招普工"]
    assert result.effects == [HeardTip(30)]
    assert result.state.tips == (30, 21, 9) and result.state.tip_at == 0
    assert action(result) == "/voice/tips/after"


def test_hash_plays_the_next_and_a_spoken_tip_plays_its_recording() -> None:
    """# goes to the next tip; a spoken tip plays its recording."""
    first = run("tips", "topic", digits="2")
    second = run("tips", "after", first.state, digits="#")
    assert played(second) == ["https://api.example.org/RE21.wav"]
    assert second.effects == [HeardTip(21)] and second.state.tip_at == 1


def test_a_digit_jumps_to_that_tip() -> None:
    """3 skips to the third tip."""
    first = run("tips", "topic", digits="2")
    third = run("tips", "after", first.state, digits="3")
    assert "深圳龙华快递分拣月薪六千" in said(third) and third.effects == [HeardTip(9)]


def test_zero_texts_the_tip_just_heard() -> None:
    """0 texts the tip playing, and the choices are offered again."""
    first = run("tips", "topic", digits="2")
    texted = run("tips", "after", first.state, digits="0")
    assert texted.effects == [TextTip(30)]
    assert said(texted)[0] == zh("tip_texted") and action(texted) == "/voice/tips/after"


def test_after_the_last_tip_the_topics_again() -> None:
    """# after the last tip says so and offers the topics."""
    state = CallState(topic=TipTopic.JOBS, tips=(30, 21, 9), tip_at=2)
    result = run("tips", "after", state, digits="#")
    assert said(result)[:2] == [zh("tips_end"), zh("tip_topics")] and result.effects == []


def test_an_empty_topic_says_so() -> None:
    """A topic with no approved tips says so and asks again."""
    result = run("tips", "topic", digits="1")
    assert said(result)[:2] == [zh("tips_none"), zh("tip_topics")] and result.effects == []


@pytest.mark.parametrize(("step", "key"), [("topic", "7"), ("topic", "#"), ("after", "8")])
def test_wrong_keys_ask_again(step: str, key: str) -> None:
    """A topic outside 1-5, or a tip number past the list: asked again, nothing counted."""
    state = CallState(topic=TipTopic.JOBS, tips=(30, 21, 9), tip_at=0)
    result = run("tips", step, state, digits=key)
    assert said(result)[0] == zh("wrong_key") and result.effects == []


def test_a_tip_withdrawn_meanwhile_is_skipped() -> None:
    """The call remembers ids: one no longer on the board is left out, never played."""
    state = CallState(topic=TipTopic.JOBS, tips=(44, 30, 21, 9), tip_at=0)
    result = run("tips", "after", state, digits="#")
    assert result.effects == [HeardTip(21)]


def test_star_goes_back() -> None:
    """* from a tip goes to the topics; * from the topics to the main menu."""
    state = CallState(topic=TipTopic.JOBS, tips=(30,), tip_at=0)
    assert action(run("tips", "after", state, digits="*")) == "/voice/tips/topic"
    assert action(run("tips", "topic", digits="*")) == "/voice/menu/choose"
