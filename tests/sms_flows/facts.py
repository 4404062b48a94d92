"""Test helpers for SMS steps: a sender and fixed, in-memory Facts (no database anywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from models.broadcast import NoticeSent
from models.inbound import Sender
from models.phone_change import PendingChange
from models.question import Question

# 2026-11-12 20:00 in Beijing: the November period.
NOW = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)


def sender(
    question: Question | None = None,
    *,
    asked: timedelta = timedelta(hours=1),
    expires: timedelta = timedelta(hours=71),
    **overrides: Any,
) -> Sender:
    """王建国 in 广州 at 电子厂, with this question open (asked `asked` before NOW)."""
    values: dict[str, Any] = {
        "id": 7,
        "name": "王建国",
        "phone": "+8613800000001",
        "city": "广州",
        "employer": "电子厂",
        "language": "zh_CN",
        "opted_out": False,
        "timezone": "Asia/Shanghai",
        "question": question,
        "expires_at": None if question is None else NOW + expires,
        "asked_at": None if question is None else NOW - asked,
    }
    values.update(overrides)
    return Sender(**values)


@dataclass
class FixedFacts:
    """Facts answered from fields, counting each lookup so a test can see what was read."""

    region: str = "CN"
    notice_sent: NoticeSent | None = None
    taken: frozenset[str] = frozenset()
    open_requests: frozenset[int] = frozenset()
    lessons: tuple[tuple[int, str], ...] = ()
    callbacks_left: bool = True
    unplayable: frozenset[int] = frozenset()
    changes: dict[str, PendingChange] = field(default_factory=dict)
    looked_up: list[str] = field(default_factory=list)

    def notice(self) -> NoticeSent | None:
        """The fixed notice, if any."""
        self.looked_up.append("notice")
        return self.notice_sent

    def phone_taken(self, phone: str) -> bool:
        """Whether the phone is among the taken ones."""
        self.looked_up.append("phone_taken")
        return phone in self.taken

    def takes_details(self, request_id: int) -> bool:
        """Whether the request is among the open ones."""
        self.looked_up.append("takes_details")
        return request_id in self.open_requests

    def lesson_exists(self, number: int) -> bool:
        """Whether a lesson has this number."""
        self.looked_up.append("lesson_exists")
        return any(n == number for n, _ in self.lessons)

    def lesson_playable(self, number: int) -> bool:
        """Whether the lesson is not among the unplayable ones."""
        self.looked_up.append("lesson_playable")
        return number not in self.unplayable

    def newest_lessons(self, limit: int) -> Sequence[tuple[int, str]]:
        """The first `limit` lessons."""
        self.looked_up.append("newest_lessons")
        return self.lessons[:limit]

    def may_call_back(self, lesson_id: int) -> bool:
        """The fixed answer."""
        self.looked_up.append("may_call_back")
        return self.callbacks_left

    def pending_phone_change(self, phone: str) -> PendingChange | None:
        """The change to this phone, if any."""
        self.looked_up.append("pending_phone_change")
        return self.changes.get(phone)
