"""The ready-made 五个摸清 survey (the five things to know about members who work away),
shipped as data (`survey_five_things.json`, in the shape `flask survey create --file` takes),
in Chinese and English, every question filling a field of the member's card."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

READY_MADE = Path(__file__).with_name("survey_five_things.json")


@cache
def _load() -> dict[str, Any]:
    data = json.loads(READY_MADE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def ready_made() -> dict[str, Any]:
    """The 五个摸清 survey as written (title, title_en, questions), a fresh copy to edit."""
    return copy.deepcopy(_load())


__all__ = ["READY_MADE", "ready_made"]
