"""Periods: the calendar month a report is for, written YYYY-MM, in a township's time zone.

The one home of the period rules. Periods are stored as their text (`Report.period`); code that
needs more than equality or order turns the text into a `Period` here rather than slicing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month. `str(period)` is its stored form, YYYY-MM."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """The period a YYYY-MM text names; ValueError for anything else."""
        match = PERIOD_RE.match(str(text).strip())
        if match is None:
            raise ValueError(f"not a period (YYYY-MM): {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, at: datetime, timezone: ZoneInfo | str) -> Period:
        """The period an instant falls in, in a time zone."""
        local = at.astimezone(_zone(timezone))
        return cls(local.year, local.month)

    def shift(self, months: int) -> Period:
        """The period `months` after this one (before it, when negative)."""
        index = self.year * 12 + (self.month - 1) + months
        return Period(index // 12, index % 12 + 1)

    def months_until(self, other: Period) -> int:
        """How many months `other` comes after this one (negative when before)."""
        return (other.year * 12 + other.month) - (self.year * 12 + self.month)

    def bounds(self, timezone: ZoneInfo | str) -> tuple[datetime, datetime]:
        """The first instant of this period and of the next one, as aware UTC datetimes."""
        zone = _zone(timezone)
        after = self.shift(1)
        start = datetime(self.year, self.month, 1, tzinfo=zone)
        end = datetime(after.year, after.month, 1, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def label(self, language: str) -> str:
        """How a member's text names the month: "3" (as in 3月) in Chinese, else 2025-03."""
        return str(self.month) if language.startswith("zh") else str(self)

    def short(self) -> str:
        """The month alone, 03, for a row of months whose year is shown elsewhere."""
        return f"{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _zone(timezone: ZoneInfo | str) -> ZoneInfo:
    return timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)


# The same rules for callers holding the stored text.


def parse_period(text: str | None) -> str | None:
    """The period YYYY-MM if the text is one, else None."""
    text = (text or "").strip()
    return text if PERIOD_RE.match(text) else None


def period_of(at: datetime, timezone: ZoneInfo | str = "Asia/Shanghai") -> str:
    """The period (YYYY-MM) an instant falls in, in a township's time zone."""
    return str(Period.of(at, timezone))


def shift_period(period: str, months: int) -> str:
    """The period `months` after (or before, when negative) the given one."""
    return str(Period.parse(period).shift(months))


def previous_period(period: str) -> str:
    """The month before a period."""
    return shift_period(period, -1)


def period_bounds(period: str, timezone: ZoneInfo | str) -> tuple[datetime, datetime]:
    """The first instant of a period and of the next one (aware, UTC); ValueError if malformed."""
    return Period.parse(period).bounds(timezone)


def month_label(period: str, language: str) -> str:
    """A period as a member's text names it (`Period.label`)."""
    return Period.parse(period).label(language)


__all__ = [
    "PERIOD_RE",
    "Period",
    "month_label",
    "parse_period",
    "period_bounds",
    "period_of",
    "previous_period",
    "shift_period",
]
