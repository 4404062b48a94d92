"""A call placed by a provider that runs no live IVR (Alibaba Cloud's IvrCall and voice files,
Tencent Cloud's voice messages): it plays an approved prompt or file, takes at most one key,
and only afterwards tells us what was pressed and how long the member listened.

`receipt_effects` turns that receipt into the same effects the live IVR's steps give, so the
report and the listening credit go through the one rule each (gateway.voice carries them out).
"""

from __future__ import annotations

from ivr_flows.engine import CreditListen, Effect, RecordReport
from models.call import CallPurpose

# The monthly report's one-level menu: 1 I studied this month, 2 I did not.
STUDIED_KEYS = {"1": True, "2": False}


def studied_of(keys: str) -> bool | None:
    """The answer the member's keys give: the first key that is an answer counts."""
    for key in keys:
        if key in STUDIED_KEYS:
            return STUDIED_KEYS[key]
    return None


def receipt_effects(
    purpose: CallPurpose,
    *,
    lesson_id: int | None,
    keys: str,
    seconds: int,
    lesson_seconds: int | None,
) -> list[Effect]:
    """What an ended call leaves: a lesson call credits the seconds heard (completed when the
    member stayed to the end of the file); a survey call (never placed by such a provider)
    leaves nothing; any other call saves the report the key gave."""
    if purpose is CallPurpose.SURVEY:
        return []
    if purpose is CallPurpose.LESSON:
        if lesson_id is None or seconds <= 0:
            return []
        completed = lesson_seconds is not None and seconds >= lesson_seconds
        return [CreditListen(lesson_id, seconds, completed)]
    studied = studied_of(keys)
    if studied is None:
        return []
    return [RecordReport(studied=studied, same_city=None, same_employer=None, amend=False)]


__all__ = ["STUDIED_KEYS", "receipt_effects", "studied_of"]
