"""The call we place: a machine is tried later, a person hears the lesson or the menu."""

from __future__ import annotations

import pytest

from ivr_flows.engine import CreditListen, MarkForRetry
from ivr_flows.outbound import is_machine
from ivr_flows.state import CallState
from tests.ivr_flows.helpers import action, gather, played, run, said, verbs, zh


@pytest.mark.parametrize("answered_by", ["machine_start", "machine_end_beep", "fax"])
def test_a_machine_is_hung_up_on_and_marked_for_retry(answered_by: str) -> None:
    """AnsweredBy=machine_*: hang up at once and try again later."""
    result = run("outbound", "start", CallState(lesson=12), answered_by=answered_by)
    assert verbs(result) == ["Hangup"]
    assert result.effects == [MarkForRetry(answered_by)]


def test_a_person_hears_a_greeting_and_the_lesson() -> None:
    """A person: greeting by name, the lesson, then press 1 when finished."""
    result = run("outbound", "start", CallState(lesson=12), answered_by="human", at=50.0)
    assert said(result) == [
        zh("outbound_greeting", name="张伟"),
        zh("lesson_intro", number=12, title="新农合报销政策"),
        zh("lesson_after"),
    ]
    assert played(result) == ["https://cdn.example.org/12.mp3"]
    assert gather(result).get("action") == "/voice/lessons/played"


def test_the_confirmation_credits_the_lesson_and_ends_the_call() -> None:
    """1 after the lesson: credited, thanks, goodbye (no menu on a lesson call)."""
    playing = run("outbound", "start", CallState(lesson=12), answered_by="human", at=0.0)
    done = run("lessons", "played", playing.state, digits="1", at=280.0)
    assert done.effects == [CreditListen(12, 280, completed=True, position=280)]
    assert said(done) == [zh("lesson_goodbye")]
    assert verbs(done) == ["Say", "Hangup"]


def test_a_callback_without_a_lesson_offers_the_main_menu() -> None:
    """A missed-call callback: the greeting and the menu."""
    result = run("outbound", "start", CallState(), answered_by="human")
    assert said(result) == [zh("greeting", name="张伟"), zh("main_menu")]
    assert action(result) == "/voice/menu/choose"


def test_machine_detection_values() -> None:
    """Only machine_* and fax count as machines."""
    assert is_machine("machine_end_silence")
    assert not is_machine("human")
    assert not is_machine("unknown")
    assert not is_machine(None)
