"""The monthly report by keypad: every path, and every answer saved as it is given."""

from __future__ import annotations

import pytest

from ivr_flows.engine import RecordReport, StoreRecording
from ivr_flows.state import CallState, ReportAnswers
from models.call import RecordingKind
from tests.ivr_flows.helpers import (
    RECORDING,
    action,
    context,
    record,
    run,
    said,
    verbs,
    zh,
)

SAVED = CallState(report=ReportAnswers(studied=True, saved=True))


def test_start_asks_whether_the_member_studied() -> None:
    """Reporting starts with the study question."""
    result = run("report", "start")
    assert said(result) == [zh("ask_studied")]
    assert action(result) == "/voice/report/studied"


@pytest.mark.parametrize(("key", "studied"), [("1", True), ("2", False)])
def test_the_study_answer_is_saved_at_once(key: str, studied: bool) -> None:
    """A hang-up after the first answer keeps it: the first answer already writes the report."""
    result = run("report", "studied", CallState(report=ReportAnswers()), digits=key)
    assert result.effects == [RecordReport(studied, None, None, amend=False)]
    assert said(result) == [zh("ask_same_city", city="广州")]
    assert action(result) == "/voice/report/same_city"


def test_the_same_city_answer_amends_the_report_of_this_call() -> None:
    """Later answers of the same call complete the same revision."""
    result = run("report", "same_city", SAVED, digits="1")
    assert result.effects == [RecordReport(True, True, None, amend=True)]
    assert said(result) == [zh("ask_same_employer", employer="电子厂")]
    assert action(result) == "/voice/report/same_employer"


def test_a_new_city_is_recorded_and_kept_with_the_report() -> None:
    """2 (moved): record the new city after the tone; the recording is attached to the report."""
    result = run("report", "same_city", SAVED, digits="2")
    assert result.effects == [RecordReport(True, False, None, amend=True)]
    assert record(result).get("action") == "/voice/report/city"
    assert said(result) == [zh("record_city")]
    recorded = run("report", "city", result.state, recording=RECORDING)
    assert recorded.effects == [StoreRecording(RecordingKind.NEW_CITY, RECORDING, attach="report")]
    assert action(recorded) == "/voice/report/same_employer"


def test_a_new_employer_is_recorded_then_the_thought_report_offered() -> None:
    """2 (new employer): record it, then the optional thought report."""
    state = CallState(report=ReportAnswers(studied=True, same_city=True, saved=True))
    result = run("report", "same_employer", state, digits="2")
    assert result.effects == [RecordReport(True, True, False, amend=True)]
    assert record(result).get("action") == "/voice/report/employer"
    recorded = run("report", "employer", result.state, recording=RECORDING)
    assert recorded.effects == [
        StoreRecording(RecordingKind.NEW_EMPLOYER, RECORDING, attach="report")
    ]
    assert said(recorded) == [zh("ask_thought_report")]
    assert action(recorded) == "/voice/report/thought"


def test_the_whole_report_by_four_keys() -> None:
    """1 studied, 1 same city, 1 same employer, 2 no thought report: three saves, the receipt."""
    ctx = context()
    first = run("report", "studied", CallState(report=ReportAnswers()), digits="1", ctx=ctx)
    second = run("report", "same_city", first.state, digits="1", ctx=ctx)
    third = run("report", "same_employer", second.state, digits="1", ctx=ctx)
    assert [e for r in (first, second, third) for e in r.effects] == [
        RecordReport(True, None, None, amend=False),
        RecordReport(True, True, None, amend=True),
        RecordReport(True, True, True, amend=True),
    ]
    done = run("report", "thought", third.state, digits="2", ctx=context(receipt="K7M2QX"))
    assert said(done) == [zh("report_done", receipt="K 7 M 2 Q X")]
    assert verbs(done) == ["Say", "Hangup"]
    assert done.waiting_at is None


def test_a_thought_report_of_up_to_two_minutes() -> None:
    """1 records a thought report (120 s at most), kept with the report, then the receipt."""
    result = run("report", "thought", digits="1")
    assert record(result).get("maxLength") == "120"
    assert record(result).get("action") == "/voice/report/thought_recorded"
    done = run(
        "report", "thought_recorded", result.state, recording=RECORDING, ctx=context(receipt="AB2")
    )
    assert done.effects == [
        StoreRecording(RecordingKind.THOUGHT_REPORT, RECORDING, attach="report")
    ]
    assert said(done) == [zh("report_done", receipt="A B 2")]


def test_silence_instead_of_a_thought_report_asks_again() -> None:
    """No recording came: say so and offer the tone again."""
    result = run("report", "thought_recorded", CallState(tries=0))
    assert said(result) == [zh("no_recording"), zh("record_thought_report")]
    assert result.effects == []


def test_a_second_call_the_same_month_says_it_was_reported() -> None:
    """Already reported: the receipt, 1 reports again, * goes back to the menu."""
    ctx = context(receipt="K7M2QX")
    result = run("report", "start", ctx=ctx)
    assert said(result) == [zh("report_again", receipt="K 7 M 2 Q X")]
    assert action(result) == "/voice/report/again"
    again = run("report", "again", result.state, digits="1", ctx=ctx)
    assert action(again) == "/voice/report/studied"
    back = run("report", "again", result.state, digits="*", ctx=ctx)
    assert action(back) == "/voice/menu/choose"


@pytest.mark.parametrize("step", ["studied", "same_city", "same_employer", "thought", "again"])
def test_wrong_keys_and_silence_are_asked_again_twice_then_goodbye(step: str) -> None:
    """Any yes/no question: a wrong key asks again, the third miss says goodbye, nothing saved."""
    wrong = run(
        "report",
        step,
        CallState(tries=0, report=ReportAnswers()),
        digits="5",
        ctx=context(receipt="X"),
    )
    assert said(wrong)[0] == zh("wrong_key")
    assert wrong.effects == []
    silent = run("report", step, wrong.state, ctx=context(receipt="X"))
    assert said(silent)[0] == zh("no_input")
    last = run("report", step, silent.state, digits="5", ctx=context(receipt="X"))
    assert said(last) == [zh("goodbye_retry")]
    assert last.effects == []


def test_an_unknown_city_is_asked_about_without_a_name() -> None:
    """No city on file: "still in the same city?"."""
    result = run("report", "studied", digits="1", ctx=context(city=None, employer=None))
    assert said(result) == [zh("ask_same_city_unknown")]
    nxt = run(
        "report", "same_city", result.state, digits="1", ctx=context(city=None, employer=None)
    )
    assert said(nxt) == [zh("ask_same_employer_unknown")]
