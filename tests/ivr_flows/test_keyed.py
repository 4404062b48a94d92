"""A call with no live IVR: what its receipt's keys and seconds leave."""

from __future__ import annotations

from ivr_flows.engine import CreditListen, RecordReport
from ivr_flows.keyed import receipt_effects, studied_of
from models.call import CallPurpose


def test_the_first_answer_key_counts_and_others_are_ignored() -> None:
    assert studied_of("1") is True
    assert studied_of("2") is False
    assert studied_of("9#2") is False
    assert studied_of("21") is False
    assert studied_of("") is None
    assert studied_of("*#9") is None


def test_a_reminder_answered_with_a_key_saves_a_new_report() -> None:
    effects = receipt_effects(
        CallPurpose.REMINDER, lesson_id=None, keys="1", seconds=14, lesson_seconds=None
    )
    assert effects == [RecordReport(studied=True, same_city=None, same_employer=None, amend=False)]
    assert receipt_effects(
        CallPurpose.MENU, lesson_id=None, keys="2", seconds=9, lesson_seconds=None
    ) == [RecordReport(studied=False, same_city=None, same_employer=None, amend=False)]


def test_a_reminder_without_an_answer_key_leaves_nothing() -> None:
    assert (
        receipt_effects(
            CallPurpose.REMINDER, lesson_id=None, keys="7", seconds=20, lesson_seconds=None
        )
        == []
    )


def test_a_lesson_call_credits_the_seconds_heard_and_completes_at_the_end() -> None:
    heard = receipt_effects(
        CallPurpose.LESSON, lesson_id=4, keys="1", seconds=120, lesson_seconds=300
    )
    assert heard == [CreditListen(4, 120, False)]
    whole = receipt_effects(
        CallPurpose.LESSON, lesson_id=4, keys="", seconds=301, lesson_seconds=300
    )
    assert whole == [CreditListen(4, 301, True)]
    assert (
        receipt_effects(CallPurpose.LESSON, lesson_id=4, keys="", seconds=0, lesson_seconds=300)
        == []
    )
    unknown_length = receipt_effects(
        CallPurpose.LESSON, lesson_id=4, keys="", seconds=50, lesson_seconds=None
    )
    assert unknown_length == [CreditListen(4, 50, False)]
