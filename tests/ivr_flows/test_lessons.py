"""Lessons by phone: categories, the newest lessons, playing, crediting and skipping."""

from __future__ import annotations

from ivr_flows import on_hangup
from ivr_flows.engine import CreditListen, Shelf
from ivr_flows.state import CallState, Playing
from tests.ivr_flows.helpers import (
    LESSONS,
    action,
    context,
    gather,
    played,
    run,
    said,
    verbs,
    xml,
    zh,
)


def test_start_offers_the_five_categories() -> None:
    """2 from the menu: the categories, 9 for a number, * back."""
    result = run("lessons", "start")
    assert said(result) == [zh("lesson_categories")]
    assert action(result) == "/voice/lessons/category"


def test_a_category_reads_out_its_newest_lessons_by_number() -> None:
    """1 (政策法规): each lesson with its position, number and title."""
    result = run("lessons", "category", digits="1")
    assert said(result) == [
        zh("lesson_item", position=1, number=12, title="新农合报销政策"),
        zh("lesson_item", position=2, number=9, title="劳动合同法要点"),
        zh("lesson_pick"),
    ]
    assert result.state.listed == (12, 9)
    assert action(result) == "/voice/lessons/pick"


def test_an_empty_category_says_so_and_offers_the_categories_again() -> None:
    """No lessons in 科普文卫 yet."""
    result = run("lessons", "category", digits="5")
    assert said(result) == [zh("lessons_none"), zh("lesson_categories")]


def test_picking_a_lesson_plays_its_audio_with_press_1_when_finished() -> None:
    """The lesson plays inside a one-key Gather, so 1 or # can be pressed any time."""
    result = run("lessons", "pick", CallState(listed=(12, 9)), digits="1", at=5000.0)
    node = gather(result)
    assert node.get("numDigits") == "1"
    assert node.get("finishOnKey") == ""
    assert node.get("action") == "/voice/lessons/played"
    assert played(result) == ["https://cdn.example.org/12.mp3"]
    assert said(result) == [
        zh("lesson_intro", number=12, title="新农合报销政策"),
        zh("lesson_after"),
    ]
    assert result.state.playing == Playing(12, 5000.0, 300)
    assert result.state.queue == (9,)


def test_a_lesson_without_audio_is_read_out() -> None:
    """No audio file: the transcript is spoken."""
    result = run("lessons", "pick", CallState(listed=(12, 9)), digits="2")
    assert played(result) == []
    assert "劳动合同要写清工资。" in said(result)


def test_pressing_1_credits_the_seconds_listened() -> None:
    """1: a LessonListen with the seconds since the lesson started, completed."""
    playing = run("lessons", "pick", CallState(listed=(12, 9)), digits="1", at=5000.0)
    done = run("lessons", "played", playing.state, digits="1", at=5240.0)
    assert done.effects == [CreditListen(12, 240, completed=True, position=240)]
    assert said(done) == [zh("lesson_credited"), zh("lesson_categories")]
    assert done.state.playing is None


def test_the_seconds_credited_never_exceed_the_lesson() -> None:
    """Someone who sat on the line for longer is credited the lesson's length."""
    playing = run("lessons", "pick", CallState(listed=(12, 9)), digits="2", at=0.0)
    done = run("lessons", "played", playing.state, digits="1", at=999.0)
    assert done.effects == [CreditListen(9, 120, completed=True, position=120)]


def test_hash_skips_to_the_next_lesson_of_the_list() -> None:
    """#: the seconds heard are kept (not completed) and the next lesson plays."""
    playing = run("lessons", "pick", CallState(listed=(12, 9)), digits="1", at=100.0)
    skipped = run("lessons", "played", playing.state, digits="#", at=130.0)
    assert skipped.effects == [CreditListen(12, 30, completed=False, position=30)]
    assert zh("lesson_intro", number=9, title="劳动合同法要点") in said(skipped)
    assert skipped.state.playing is not None and skipped.state.playing.number == 9
    last = run("lessons", "played", skipped.state, digits="#", at=140.0)
    assert said(last) == [zh("lesson_categories")]


def test_silence_after_a_lesson_asks_for_the_key_without_replaying() -> None:
    """No key: "press 1 when finished" again (no second play), then goodbye keeping the seconds."""
    playing = run("lessons", "pick", CallState(listed=(12, 9)), digits="1", at=0.0)
    first = run("lessons", "played", playing.state, at=60.0)
    assert said(first) == [zh("no_input"), zh("lesson_after")]
    assert played(first) == []
    assert first.effects == []
    wrong = run("lessons", "played", first.state, digits="5", at=70.0)
    assert said(wrong) == [zh("wrong_key"), zh("lesson_after")]
    last = run("lessons", "played", wrong.state, at=80.0)
    assert last.effects == [CreditListen(12, 80, completed=False, position=80)]
    assert verbs(last) == ["Say", "Hangup"]


def test_a_lesson_number_can_be_dialled_directly() -> None:
    """9, then the number and #: that lesson plays."""
    asked = run("lessons", "category", digits="9")
    node = gather(asked)
    assert node.get("finishOnKey") == "#"
    assert node.get("action") == "/voice/lessons/number"
    result = run("lessons", "number", asked.state, digits="7")
    assert result.state.playing is not None and result.state.playing.number == 7
    assert "大棚要通风。" in said(result)


def test_an_unknown_lesson_number_says_so() -> None:
    """A number with no lesson: the reason, and the number question again."""
    result = run("lessons", "number", digits="404")
    assert said(result) == [zh("lesson_unknown"), zh("lesson_number")]


def test_a_wrong_position_asks_again_and_star_goes_back() -> None:
    """A position beyond the list is a wrong key; * returns to the categories."""
    wrong = run("lessons", "pick", CallState(listed=(12, 9)), digits="3")
    assert said(wrong)[0] == zh("wrong_key")
    back = run("lessons", "pick", CallState(listed=(12, 9)), digits="*")
    assert said(back) == [zh("lesson_categories")]
    menu = run("lessons", "category", digits="*")
    assert action(menu) == "/voice/menu/choose"


def test_a_hang_up_during_a_lesson_credits_what_was_heard() -> None:
    """The call-ended hook credits the seconds from the start to the hang-up."""
    playing = run("lessons", "pick", CallState(listed=(12, 9)), digits="1", at=1000.0)
    assert on_hangup(playing.state, 1090.0) == [CreditListen(12, 90, completed=False, position=90)]
    assert on_hangup(CallState(), 1090.0) == []


def test_a_lesson_removed_from_the_list_goes_back_to_the_categories() -> None:
    """The listed lessons are looked up again: none left, back to the categories."""
    result = run(
        "lessons", "pick", CallState(listed=(12,)), digits="1", ctx=context(lessons=Shelf())
    )
    assert said(result) == [zh("lesson_categories")]
    assert xml(result).find("Gather") is not None
    assert LESSONS[0].number == 12
