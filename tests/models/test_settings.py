"""Cycle settings: checking each value, and a branch's overrides in the one rule (rules_for)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from models.cycle import due_steps, in_busy_season, member_rules, rules_for
from models.settings import (
    SettingsError,
    check_escalation_days,
    check_reachable,
    check_span,
    check_time,
    own_cycle_settings,
    parse_seasons,
    set_cycle_settings,
)
from models.voice import next_contact_time as callback_time
from tests.factories import make_member, make_tree

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A moment in November 2026, Shanghai time."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "stored"), [("19:00", "19:00"), ("7:05", "07:05"), ("21：30", "21:30")]
)
def test_times_are_stored_as_hh_mm(text: str, stored: str) -> None:
    """H:MM and a full-width colon are read; the stored form is HH:MM."""
    assert check_time(text) == stored


@pytest.mark.parametrize("text", ["", "24:00", "19:60", "7pm", "19", "19:0", "ab:cd"])
def test_bad_times_are_refused(text: str) -> None:
    """Anything that is not a time of day says how to write one."""
    with pytest.raises(SettingsError, match="HH:MM"):
        check_time(text)


def test_a_span_needs_two_different_ends() -> None:
    """19:00-19:00 is no window at all."""
    assert check_span("22:00", "06:00") == ["22:00", "06:00"]
    with pytest.raises(SettingsError):
        check_span("19:00", "19:00")


def test_a_window_inside_the_quiet_hours_reaches_nobody() -> None:
    """A window that quiet hours cover wholly is refused; one that overlaps in part is fine."""
    check_reachable(["19:00", "21:30"], ["21:30", "08:00"])
    check_reachable(["07:00", "23:00"], ["21:30", "08:00"])
    with pytest.raises(SettingsError, match="quiet hours"):
        check_reachable(["22:00", "07:00"], ["21:30", "08:00"])


def test_busy_seasons_are_read_one_a_line() -> None:
    """Ranges on lines or after commas, with .. or ~ or 至; one over the new year is fine."""
    assert parse_seasons("9-20..10-10\n12-20 ~ 01-10，02-01至02-29") == [
        ["09-20", "10-10"],
        ["12-20", "01-10"],
        ["02-01", "02-29"],
    ]
    assert parse_seasons("  \n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("09-20", "09-20..10-10"), ("02-30..03-10", "MM-DD"), ("13-01..01-05", "MM-DD"), ("x", "1")],
)
def test_bad_busy_seasons_say_which_and_how(text: str, message: str) -> None:
    """A season that is not two real month-days names itself and the expected form."""
    with pytest.raises(SettingsError, match=message):
        parse_seasons(text)


def test_escalation_days_must_rise_within_the_month() -> None:
    """1..28, each step after the one before."""
    good = {"reminder": 1, "second_reminder": 5, "ivr_call": 10, "liaison_task": 15}
    assert check_escalation_days(good) == good
    for bad, message in [
        ({**good, "ivr_call": 5}, "after the second reminder"),
        ({**good, "liaison_task": 29}, "from 1 to 28"),
        ({**good, "reminder": 0}, "from 1 to 28"),
        ({**good, "reminder": "x"}, "whole number"),
    ]:
        with pytest.raises(SettingsError, match=message):
            check_escalation_days(bad)


def test_a_branch_override_wins_and_the_rest_comes_from_the_township(session: Session) -> None:
    """The branch sets its own window and days; quiet hours and seasons stay the township's."""
    township, east, west = make_tree(session)
    set_cycle_settings(township, {"busy_seasons": [["09-20", "10-10"]]})
    set_cycle_settings(
        east,
        {
            "contact_window": ["12:00", "13:00"],
            "escalation_days": {
                "reminder": 3,
                "second_reminder": 6,
                "ivr_call": 12,
                "liaison_task": 20,
            },
        },
    )
    east_rules = rules_for(township, east)
    assert east_rules.window == (time(12), time(13))
    assert east_rules.escalation_days["reminder"] == 3
    assert east_rules.quiet == (time(21, 30), time(8))
    assert in_busy_season(east_rules, at(1, 12, month=10))
    west_rules = rules_for(township, west)
    assert west_rules.window == (time(19), time(21, 30))
    assert west_rules.escalation_days["reminder"] == 1
    member = make_member(session, east)
    assert member_rules(session, member).window == (time(12), time(13))
    # A callback (models.voice) is placed by the same rule: 10:00 waits for the branch's 12:00.
    ten = datetime(2025, 10, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert callback_time(session, member, ten) == ten.replace(hour=12)


def test_removing_an_override_falls_back(session: Session) -> None:
    """None removes the branch's own value; only the cycle keys are its own settings."""
    township, east, _ = make_tree(session)
    east.settings = {"prompts": {"greeting": "https://x/g.wav"}}
    changes = set_cycle_settings(east, {"quiet_hours": ["22:00", "07:00"]})
    assert changes == {"quiet_hours": [None, ["22:00", "07:00"]]}
    assert own_cycle_settings(east) == {"quiet_hours": ["22:00", "07:00"]}
    set_cycle_settings(east, {"quiet_hours": None})
    assert own_cycle_settings(east) == {}
    assert east.settings == {"prompts": {"greeting": "https://x/g.wav"}}
    assert rules_for(township, east).quiet == (time(21, 30), time(8))


def test_the_escalation_follows_each_branchs_days_and_window(session: Session) -> None:
    """On day 2 at noon only the branch whose reminder day is 2 and window is midday is due."""
    township, east, west = make_tree(session)
    set_cycle_settings(
        east,
        {
            "contact_window": ["11:00", "13:00"],
            "escalation_days": {
                "reminder": 2,
                "second_reminder": 6,
                "ivr_call": 12,
                "liaison_task": 20,
            },
        },
    )
    set_cycle_settings(
        township,
        {
            "escalation_days": {
                "reminder": 3,
                "second_reminder": 6,
                "ivr_call": 12,
                "liaison_task": 20,
            }
        },
    )
    in_east = make_member(session, east)
    make_member(session, west)
    due = due_steps(session, township, at(2, 12))
    assert [(d.member.id, d.step) for d in due] == [(in_east.id, "reminder")]
    assert due_steps(session, township, at(2, 20)) == []  # east's window is over
    assert due_steps(session, township, at(1, 12)) == []  # nobody's day yet
