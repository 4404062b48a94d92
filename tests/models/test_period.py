"""Periods: one type for parsing, shifting, bounds in a time zone, the period of an instant, labels."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.period import (
    Period,
    month_label,
    parse_period,
    period_bounds,
    period_of,
    previous_period,
    shift_period,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
URUMQI = ZoneInfo("Asia/Urumqi")


@pytest.mark.parametrize(
    "text", ["2025-13", "2025-00", "2025-1", "25-01", "2025/01", "", "二〇二五年一月"]
)
def test_only_yyyy_mm_is_a_period(text: str) -> None:
    with pytest.raises(ValueError):
        Period.parse(text)
    assert parse_period(text) is None


def test_shifting_crosses_years_both_ways() -> None:
    assert shift_period("2025-12", 1) == "2026-01"
    assert shift_period("2025-01", -1) == previous_period("2025-01") == "2024-12"
    assert shift_period("2025-03", -27) == "2022-12"
    assert Period.parse("2024-11").months_until(Period.parse("2025-02")) == 3


def test_bounds_are_the_local_month_as_utc_instants() -> None:
    """A Shanghai month starts at 16:00 UTC on the last day of the month before."""
    start, end = period_bounds("2025-01", SHANGHAI)
    assert start == datetime(2024, 12, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2025, 1, 31, 16, 0, tzinfo=UTC)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    # The zone may be given by name too (township settings keep it as text).
    assert period_bounds("2025-01", "Asia/Shanghai") == (start, end)
    assert period_bounds("2025-01", URUMQI)[0] == datetime(2024, 12, 31, 18, 0, tzinfo=UTC)


def test_the_period_of_an_instant_is_the_townships_month() -> None:
    """The month is read on the township's clock, not on UTC's."""
    late = datetime(2025, 1, 31, 23, 30, tzinfo=SHANGHAI)
    assert period_of(late, SHANGHAI) == "2025-01"
    assert period_of(datetime(2025, 1, 31, 16, 0, tzinfo=UTC), SHANGHAI) == "2025-02"
    assert period_of(datetime(2025, 1, 31, 16, 0, tzinfo=UTC), "UTC") == "2025-01"


def test_labels_per_language() -> None:
    assert month_label("2025-03", "zh_CN") == "3"
    assert month_label("2025-03", "en") == "2025-03"
    assert Period.parse("2025-03").short() == "03"


@given(st.integers(1900, 2200), st.integers(1, 12), st.integers(-400, 400))
def test_shift_round_trips_and_bounds_follow_each_other(year: int, month: int, months: int) -> None:
    period = Period(year, month)
    assert Period.parse(str(period)) == period
    assert period.shift(months).shift(-months) == period
    assert period.months_until(period.shift(months)) == months
    assert period.bounds(SHANGHAI)[1] == period.shift(1).bounds(SHANGHAI)[0]
    assert Period.of(period.bounds(SHANGHAI)[0], SHANGHAI) == period
