"""Checking and changing the cycle settings of a township or a branch.

A township keeps contact window, quiet hours, busy seasons and escalation days in its
`Organization.settings`; a branch keeps only the ones it overrides there (a key it leaves
out falls back to the township, see models.cycle.rules_for). Every value is checked here
before it is stored, so rules_for never meets a setting it cannot read.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

from models.caps import CAP_KEYS
from models.cycle import STEPS, in_range, parse_hhmm
from models.org import Organization
from models.targets import BilingualError

CYCLE_KEYS = ("contact_window", "quiet_hours", "busy_seasons", "escalation_days")
LAST_ESCALATION_DAY = 28  # every month has it

_TIME_RE = re.compile(r"^(\d{1,2})[:：](\d{2})$")
_DAY_RE = re.compile(r"^(\d{1,2})-(\d{1,2})$")
# 09-20..10-10, also written with ~, ～, 至 or an en/em dash between the two days.
_RANGE_RE = re.compile(r"^(\d{1,2}-\d{1,2})\s*(?:\.\.|~|～|至|–|—)\s*(\d{1,2}-\d{1,2})$")
_STEP_NAMES = {
    "reminder": ("提醒短信", "reminder"),
    "second_reminder": ("第二次提醒", "second reminder"),
    "ivr_call": ("语音电话", "reminder call"),
    "liaison_task": ("联络员任务", "liaison task"),
}


class SettingsError(BilingualError):
    """A setting that cannot be stored: which field and why (Chinese and English)."""


def check_time(text: str) -> str:
    """A time of day written HH:MM (also H:MM and a full-width colon), as HH:MM."""
    match = _TIME_RE.match((text or "").strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise SettingsError(
            f"时间应写作HH:MM,例如19:00:{text!r}", f"Write a time as HH:MM, e.g. 19:00: {text!r}"
        )
    return f"{int(match[1]):02d}:{match[2]}"


def check_span(start: str, end: str) -> list[str]:
    """A daily span [start, end) that may run past midnight; the two ends must differ."""
    first, last = check_time(start), check_time(end)
    if first == last:
        raise SettingsError("开始和结束时间不能相同", "The start and end must differ")
    return [first, last]


def check_reachable(window: list[str], quiet: list[str]) -> None:
    """Some minute of the contact window must fall outside the quiet hours, else members
    without a window of their own would never be texted or called."""
    start, end = parse_hhmm(window[0]), parse_hhmm(window[1])
    quiet_start, quiet_end = parse_hhmm(quiet[0]), parse_hhmm(quiet[1])
    for minute in range(24 * 60):
        moment = time(minute // 60, minute % 60)
        if in_range(moment, start, end) and not in_range(moment, quiet_start, quiet_end):
            return
    raise SettingsError(
        f"联系时段{window[0]}-{window[1]}全在免打扰时段{quiet[0]}-{quiet[1]}内,党员将收不到任何信息",
        f"The contact window {window[0]}-{window[1]} lies wholly in the quiet hours "
        f"{quiet[0]}-{quiet[1]}: members would never be reached",
    )


def _month_day(text: str) -> str:
    match = _DAY_RE.match(text)
    valid = False
    if match:
        try:
            date(2024, int(match[1]), int(match[2]))  # a leap year: 02-29 is a day
            valid = True
        except ValueError:
            valid = False
    if not match or not valid:
        raise SettingsError(
            f"日期应写作月-日,例如09-20:{text!r}", f"Write a day as MM-DD, e.g. 09-20: {text!r}"
        )
    return f"{int(match[1]):02d}-{int(match[2]):02d}"


def parse_seasons(text: str) -> list[list[str]]:
    """Busy seasons, one a line (or separated by ; or ,): `09-20..10-10`.

    A season may run over the new year (`12-20..01-10`); an empty text is no season.
    """
    seasons: list[list[str]] = []
    parts = [p.strip() for p in re.split(r"[\n;；,，]+", text or "") if p.strip()]
    for number, part in enumerate(parts, start=1):
        match = _RANGE_RE.match(part)
        if not match:
            raise SettingsError(
                f"第{number}个农忙时段应写作09-20..10-10:{part!r}",
                f"Busy season {number} should be written 09-20..10-10: {part!r}",
            )
        seasons.append([_month_day(match[1]), _month_day(match[2])])
    return seasons


def format_seasons(seasons: list[list[str]] | None) -> str:
    """Busy seasons as the settings page writes them, one a line."""
    return "\n".join(f"{first}..{last}" for first, last in seasons or [])


def check_escalation_days(days: dict[str, Any]) -> dict[str, int]:
    """Days of the month of the four steps: whole numbers 1..28, each after the one before."""
    checked: dict[str, int] = {}
    previous: tuple[str, int] | None = None
    for step in STEPS:
        zh, en = _STEP_NAMES[step]
        raw = days.get(step)
        try:
            day = int(str(raw).strip())
        except ValueError:
            raise SettingsError(
                f"{zh}的日期应为1到{LAST_ESCALATION_DAY}的整数",
                f"The {en} day must be a whole number from 1 to {LAST_ESCALATION_DAY}",
            ) from None
        if not 1 <= day <= LAST_ESCALATION_DAY:
            raise SettingsError(
                f"{zh}的日期应在1到{LAST_ESCALATION_DAY}之间:{day}",
                f"The {en} day must be from 1 to {LAST_ESCALATION_DAY}: {day}",
            )
        if previous is not None and day <= previous[1]:
            before_zh, before_en = _STEP_NAMES[previous[0]]
            raise SettingsError(
                f"{zh}({day}日)应在{before_zh}({previous[1]}日)之后",
                f"The {en} (day {day}) must come after the {before_en} (day {previous[1]})",
            )
        checked[step] = day
        previous = (step, day)
    return checked


def own_cycle_settings(org: Organization) -> dict[str, Any]:
    """The cycle settings stored on this organisation itself (a branch's overrides)."""
    stored = org.settings or {}
    return {key: stored[key] for key in CYCLE_KEYS if stored.get(key) is not None}


def set_cycle_settings(org: Organization, values: dict[str, Any]) -> dict[str, Any]:
    """Store checked cycle settings; a key given as None is removed (a branch falls back).

    Returns {key: [before, after]} for the keys that changed, for the audit log.
    """
    stored = dict(org.settings or {})
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in CYCLE_KEYS and key not in CAP_KEYS:
            raise KeyError(key)
        before = stored.get(key)
        if before == value:
            continue
        changes[key] = [before, value]
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    if changes:
        org.settings = stored  # a new dict, so the JSON column is written
    return changes


__all__ = [
    "CYCLE_KEYS",
    "LAST_ESCALATION_DAY",
    "SettingsError",
    "check_escalation_days",
    "check_reachable",
    "check_span",
    "check_time",
    "format_seasons",
    "own_cycle_settings",
    "parse_seasons",
    "set_cycle_settings",
]
