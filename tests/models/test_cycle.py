"""The monthly cycle's rules: windows, quiet hours, busy seasons, escalation and closing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Channel, Member, Organization, opt_out, record_report
from models.cycle import (
    REMINDER_CALL,
    CycleError,
    close_period,
    due_steps,
    in_busy_season,
    in_range,
    may_contact,
    may_place_call,
    next_contact_time,
    record_step,
    rules_for,
)
from models.report import NonReporter
from tests.factories import make_member, make_tree

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A moment in November 2026, Shanghai time."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("moment", "start", "end", "inside"),
    [
        (time(20), time(19), time(21, 30), True),
        (time(21, 30), time(19), time(21, 30), False),
        (time(23), time(22), time(6), True),
        (time(5, 59), time(22), time(6), True),
        (time(12), time(22), time(6), False),
    ],
)
def test_ranges_may_run_past_midnight(moment: time, start: time, end: time, inside: bool) -> None:
    """A window from 22:00 to 06:00 holds 23:00 and 05:59 but not noon."""
    assert in_range(moment, start, end) is inside


def test_default_window_is_the_evening(session: Session) -> None:
    """19:00 to 21:30 local by default."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    rules = rules_for(township)
    assert may_contact(member, rules, at(3, 20))
    assert not may_contact(member, rules, at(3, 18, 59))
    assert not may_contact(member, rules, at(3, 21, 30))


def test_a_shift_workers_own_window_overrides_quiet_hours(session: Session) -> None:
    """A member whose window is 22:00-23:30 is reached then, though quiet hours start 21:30."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch, window_start="22:00", window_end="23:30")
    rules = rules_for(township)
    assert may_contact(member, rules, at(3, 22, 30))
    assert not may_contact(member, rules, at(3, 20))


def test_a_wide_township_window_is_clipped_by_quiet_hours(session: Session) -> None:
    """A township window 07:00-23:00 still sends nothing before 08:00 or after 21:30."""
    township, branch, _ = make_tree(session)
    township.settings = {"contact_window": ["07:00", "23:00"]}
    member = make_member(session, branch)
    rules = rules_for(township)
    assert not may_contact(member, rules, at(3, 7, 30))
    assert may_contact(member, rules, at(3, 8))
    assert not may_contact(member, rules, at(3, 22))
    assert next_contact_time(member, rules, at(3, 6)) == at(3, 8)


def test_next_contact_time_is_the_next_window_start(session: Session) -> None:
    """At 14:00 the next chance is 19:00; at 22:00 it is 19:00 the day after."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    rules = rules_for(township)
    assert next_contact_time(member, rules, at(3, 14)) == at(3, 19)
    assert next_contact_time(member, rules, at(3, 22)) == at(4, 19)
    assert next_contact_time(member, rules, at(3, 20)) == at(3, 20)


def test_busy_seasons_including_one_over_new_year(session: Session) -> None:
    """Month-day ranges: the harvest, and one that runs over 1 January."""
    township, _, _ = make_tree(session)
    township.settings = {"busy_seasons": [["09-20", "10-10"], ["12-20", "01-10"]]}
    rules = rules_for(township)
    assert in_busy_season(rules, at(1, 20, month=10))
    assert not in_busy_season(rules, at(11, 20, month=10))
    assert in_busy_season(rules, datetime(2027, 1, 5, 12, tzinfo=SHANGHAI))
    assert not in_busy_season(rules, at(3, 20))


def _steps(session: Session, township: Organization, now: datetime) -> dict[int, str]:
    return {due.member.id: due.step for due in due_steps(session, township, now)}


def test_day_one_reminds_only_those_who_should_hear(session: Session) -> None:
    """Reported, opted-out and inactive members get nothing; the rest get the first reminder."""
    township, branch, _ = make_tree(session)
    due = make_member(session, branch)
    reported = make_member(session, branch)
    record_report(session, reported, period="2026-11", studied=True, channel=Channel.SMS)
    opt_out(session, make_member(session, branch))
    make_member(session, branch, active=False)
    assert _steps(session, township, at(1, 20)) == {due.id: "reminder"}
    assert _steps(session, township, at(1, 15)) == {}  # outside the window


def test_a_member_registered_mid_month_owes_nothing_for_it(session: Session) -> None:
    """One rule for who owes a month's report: a member loaded on the 20th is not reminded,
    called or tasked for that month (it is not a missed month either), but is for the next."""
    township, branch, _ = make_tree(session)
    on_time = make_member(session, branch, created_at=at(1, 9))
    late = make_member(session, branch, created_at=at(20, 9))
    assert _steps(session, township, at(20, 20)) == {on_time.id: "reminder"}
    december = datetime(2026, 12, 1, 20, tzinfo=SHANGHAI)
    assert set(_steps(session, township, december)) == {on_time.id, late.id}


def test_escalation_goes_step_by_step_one_a_day(session: Session) -> None:
    """Reminder day 1, second reminder day 5, IVR call day 10, liaison task day 15."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    schedule = [(1, 20, "reminder"), (5, 20, "second_reminder"), (10, 20, "ivr_call")]
    for day, hour, step in schedule:
        assert _steps(session, township, at(day, hour)) == {member.id: step}
        record_step(session, member.id, "2026-11", step, at(day, hour))
        session.flush()
        assert _steps(session, township, at(day, hour, 30)) == {}  # one step a day
    # The liaison's task needs no window: it is due at ten in the morning too.
    assert _steps(session, township, at(15, 10)) == {member.id: "liaison_task"}


def test_a_missed_week_does_not_send_steps_at_once(session: Session) -> None:
    """If the cycle did not run until day 10, the member gets the first reminder, not three."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    assert _steps(session, township, at(10, 20)) == {member.id: "reminder"}
    record_step(session, member.id, "2026-11", "reminder", at(10, 20))
    session.flush()
    assert _steps(session, township, at(10, 21)) == {}
    assert _steps(session, township, at(11, 20)) == {member.id: "second_reminder"}


def test_township_days_are_configurable(session: Session) -> None:
    """A township that reminds on day 3 sends nothing on day 1."""
    township, branch, _ = make_tree(session)
    township.settings = {
        "escalation_days": {"reminder": 3, "second_reminder": 6, "ivr_call": 9, "liaison_task": 12}
    }
    member = make_member(session, branch)
    assert _steps(session, township, at(1, 20)) == {}
    assert _steps(session, township, at(3, 20)) == {member.id: "reminder"}


def test_an_invalid_number_skips_to_the_liaison(session: Session) -> None:
    """No texts or calls to a number known to be invalid; the liaison still gets the task."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch, phone_invalid_at=at(1, 1))
    assert _steps(session, township, at(1, 20)) == {}
    assert _steps(session, township, at(15, 20)) == {member.id: "liaison_task"}


def test_an_opted_out_member_skips_only_the_texts(session: Session) -> None:
    """TD stops the two reminder texts; the call on day 10 and the liaison's task remain."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    opt_out(session, member)
    assert _steps(session, township, at(1, 20)) == {}
    assert _steps(session, township, at(5, 20)) == {}
    assert _steps(session, township, at(10, 20)) == {member.id: "ivr_call"}
    record_step(session, member.id, "2026-11", "ivr_call", at(10, 20))
    session.flush()
    assert _steps(session, township, at(15, 10)) == {member.id: "liaison_task"}


def test_who_may_be_called(session: Session) -> None:
    """After TD only the escalation's reminder call; nobody who left or whose number is bad."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    assert may_place_call(member, "lesson") and may_place_call(member, REMINDER_CALL)
    opt_out(session, member)
    assert may_place_call(member, REMINDER_CALL)
    assert not may_place_call(member, "lesson") and not may_place_call(member, "callback")
    for gone in (
        make_member(session, branch, active=False),
        make_member(session, branch, phone_invalid_at=at(1, 1)),
    ):
        assert not may_place_call(gone, REMINDER_CALL)


def test_closing_a_period_fixes_its_non_reporters_once(session: Session) -> None:
    """Members registered by the month's first day and without a report are fixed; closing
    again adds none. A member registered later in the month is first due the month after."""
    township, branch, other = make_tree(session)
    before = at(1, 9, month=9)
    silent = make_member(session, branch, created_at=before)
    opted = make_member(session, other, created_at=before)
    opt_out(session, opted)
    reported = make_member(session, branch, created_at=before)
    record_report(session, reported, period="2026-10", studied=False, channel=Channel.IVR)
    make_member(session, branch, created_at=at(2, 9))  # joined after October
    make_member(session, branch, created_at=at(2, 9, month=10))  # joined on 2 October: not due
    first_day = make_member(session, branch, created_at=at(1, 23, month=10))  # had all October
    with pytest.raises(CycleError, match="not over"):
        close_period(session, township, "2026-11", at(20, 12))
    assert close_period(session, township, "2026-10", at(1, 0, 30)) == 3
    assert close_period(session, township, "2026-10", at(1, 0, 31)) == 0
    fixed = session.execute(select(NonReporter.member_id, NonReporter.branch_id)).all()
    assert sorted(fixed) == sorted(
        [(silent.id, branch.id), (opted.id, other.id), (first_day.id, branch.id)]
    )
    assert session.scalar(select(func.count(Member.id))) == 6


def test_a_period_must_look_like_a_month(session: Session) -> None:
    """A malformed period is refused with a clear message."""
    township, _, _ = make_tree(session)
    with pytest.raises(CycleError, match="YYYY-MM"):
        close_period(session, township, "2026-13", at(1, 12) + timedelta(days=60))
