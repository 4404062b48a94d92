"""Lessons that resume: "press 1 to continue where you stopped", from that second, and the
seconds of each part credited."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ivr_flows import on_hangup
from ivr_flows.engine import CreditListen, Resume
from ivr_flows.state import CallState, Playing
from tests.ivr_flows.helpers import LESSONS, action, context, played, run, said, zh

AUDIO, SPOKEN = LESSONS[0], LESSONS[1]  # 300 s of audio; 120 s spoken from its text


def stopped_at(lesson: int = 0, second: int = 120) -> Resume:
    """A caller who stopped in one of the test lessons."""
    return Resume(LESSONS[lesson], second)


@pytest.mark.parametrize(("flow", "step"), [("menu", "start"), ("outbound", "start")])
def test_a_caller_who_stopped_in_a_lesson_is_offered_to_continue(flow: str, step: str) -> None:
    """The hotline and a callback with the menu: the greeting, then press 1 to continue."""
    result = run(flow, step, ctx=context(resume=stopped_at()))
    assert said(result) == [
        zh("greeting", name="张伟"),
        zh("lesson_resume", title="新农合报销政策"),
    ]
    assert action(result) == "/voice/lessons/resume"


def test_without_an_unfinished_lesson_the_menu_is_as_before() -> None:
    """Nothing to continue: the main menu straight away."""
    result = run("menu", "start")
    assert action(result) == "/voice/menu/choose"


def test_one_continues_the_audio_from_the_second_it_stopped() -> None:
    """1: the lesson's audio from second 120 on, announced as continued."""
    result = run("lessons", "resume", digits="1", at=5000.0, ctx=context(resume=stopped_at()))
    assert played(result) == ["https://cdn.example.org/12.mp3?from=120"]
    assert said(result) == [
        zh("lesson_continue", number=12, title="新农合报销政策"),
        zh("lesson_after"),
    ]
    assert result.state.playing == Playing(12, 5000.0, 300, 120)


def test_a_spoken_lesson_continues_from_its_part_of_the_text() -> None:
    """A lesson without audio: the text spoken from the same share of it (60 of 120 s)."""
    ctx = context(resume=stopped_at(1, 60))
    result = run("lessons", "resume", digits="1", ctx=ctx)
    text = SPOKEN.transcript
    assert any(text[len(text) // 2 :] in line for line in said(result))


@pytest.mark.parametrize(
    ("second", "heard"),
    [
        (0, "第一句讲报名。第二句讲材料，要带身份证。第三句讲时间。"),
        (12, "第二句讲材料，要带身份证。第三句讲时间。"),
        (25, "第三句讲时间。"),
        (29, "第三句讲时间。"),
    ],
)
def test_a_spoken_lesson_starts_again_at_a_sentence(second: int, heard: str) -> None:
    """Never in the middle of a word: the text from the start of the sentence the share of
    its length falls in."""
    lesson = replace(
        SPOKEN, transcript="第一句讲报名。第二句讲材料，要带身份证。第三句讲时间。", duration=30
    )
    result = run("lessons", "resume", digits="1", ctx=context(resume=Resume(lesson, second)))
    assert heard in said(result)


@pytest.mark.parametrize("digits", ["2", "*", None])
def test_any_other_key_or_none_goes_to_the_menu(digits: str | None) -> None:
    """Not 1: the main menu, and nothing plays."""
    result = run("lessons", "resume", digits=digits, ctx=context(resume=stopped_at()))
    assert action(result) == "/voice/menu/choose"
    assert played(result) == []


def test_the_parts_are_credited_with_where_they_ended() -> None:
    """The resumed part is credited with the seconds heard since 120 and its position; a part
    that reaches the end completes the lesson, and never counts more than was left."""
    resumed = CallState(playing=Playing(12, 5000.0, 300, 120))
    assert on_hangup(resumed, 5100.0) == [CreditListen(12, 100, completed=False, position=220)]
    assert on_hangup(resumed, 5400.0) == [CreditListen(12, 180, completed=True, position=300)]
    finished = run("lessons", "played", resumed, digits="1", at=5090.0)
    assert finished.effects == [CreditListen(12, 90, completed=True, position=210)]


def test_an_offset_past_the_end_starts_at_the_last_second() -> None:
    """A stored position beyond the lesson (edited by hand) never plays past the end."""
    result = run("lessons", "resume", digits="1", ctx=context(resume=stopped_at(0, 9999)))
    assert played(result) == ["https://cdn.example.org/12.mp3?from=299"]
    assert AUDIO.duration == 300
