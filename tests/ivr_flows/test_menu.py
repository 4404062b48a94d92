"""The main menu: greeting, the five choices, repeat, wrong keys and silence."""

from __future__ import annotations

import pytest

from ivr_flows.state import CallState
from tests.ivr_flows.helpers import action, context, run, said, verbs, xml, zh


def test_a_known_caller_is_greeted_by_name_and_offered_the_menu() -> None:
    """The first thing a member hears: their name, then the menu, inside one Gather."""
    result = run("menu", "start")
    assert said(result) == [zh("greeting", name="张伟"), zh("main_menu")]
    assert action(result) == "/voice/menu/choose"
    assert xml(result).find("Gather/Say") is not None  # a key interrupts the greeting


@pytest.mark.parametrize(
    ("key", "next_action", "first_prompt"),
    [
        ("1", "/voice/report/studied", "ask_studied"),
        ("2", "/voice/lessons/category", "lesson_categories"),
        ("3", "/voice/status/choose", "status_menu"),
        ("4", "/voice/help/category", "help_categories"),
        ("0", "/voice/message/recorded", "record_message"),
    ],
)
def test_each_key_starts_its_flow(key: str, next_action: str, first_prompt: str) -> None:
    """1 report, 2 lessons, 3 status, 4 help, 0 message: the flow's first question at once."""
    result = run("menu", "choose", CallState(tries=1), digits=key)
    assert action(result) == next_action
    assert said(result) == [zh(first_prompt)]
    assert result.state.tries == 0
    assert result.effects == []


def test_star_repeats_the_menu_without_counting_a_miss() -> None:
    """* plays the menu again (no greeting) and keeps the miss count as it was."""
    result = run("menu", "choose", CallState(tries=1), digits="*")
    assert said(result) == [zh("main_menu")]
    assert result.state.tries == 1


@pytest.mark.parametrize(
    ("digits", "reason"), [("7", "wrong_key"), ("#", "wrong_key"), (None, "no_input")]
)
def test_a_key_outside_the_menu_or_silence_asks_again_with_the_reason(
    digits: str | None, reason: str
) -> None:
    """Digits outside the menu and timeouts repeat the menu after saying why."""
    result = run("menu", "choose", digits=digits)
    assert said(result) == [zh(reason), zh("main_menu")]
    assert action(result) == "/voice/menu/choose"
    assert result.state.tries == 1


def test_the_third_miss_says_goodbye_and_how_to_call_back() -> None:
    """Twice asked again, the third miss hangs up politely."""
    result = run("menu", "choose", CallState(tries=2), digits="9")
    assert verbs(result) == ["Say", "Hangup"]
    assert said(result) == [zh("goodbye_retry")]


def test_a_caller_without_a_name_is_not_greeted_by_name() -> None:
    """No name known: the menu alone."""
    result = run("menu", "start", ctx=context(name=None))
    assert said(result) == [zh("main_menu")]
