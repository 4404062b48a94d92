"""The shared step machinery: prompts, questions, retries, recovery."""

from __future__ import annotations

import dataclasses

import pytest

from ivr_flows import FLOWS, run_step
from ivr_flows.engine import (
    KEY_TIMEOUT,
    MAX_RETRIES,
    NUMBER_TIMEOUT,
    Input,
    Question,
    RecordQuestion,
    ask,
    prompt,
    retry,
)
from ivr_flows.prompts import PROMPTS, parameters, text
from ivr_flows.state import CallState, ReportAnswers
from tests.ivr_flows.helpers import (
    action,
    context,
    gather,
    played,
    record,
    redirect,
    run,
    said,
    verbs,
    xml,
    zh,
)


def test_every_prompt_has_chinese_and_english_with_the_same_parameters() -> None:
    """A prompt exists in both languages and asks for the same {names} in each."""
    for key, table in PROMPTS.items():
        assert set(table) == {"zh_CN", "en"}, key
        names = [
            {name for name in parameters(key) if "{" + name + "}" in template}
            for template in table.values()
        ]
        assert names[0] == names[1], key


def test_a_question_waits_for_one_key_and_comes_back_on_silence() -> None:
    """One-key questions: numDigits 1, no finish key, a 5-8 s timeout, a Redirect after."""
    result = ask(context(), CallState(), Question("menu", "choose", (prompt("main_menu"),)))
    node = gather(result)
    assert node.get("numDigits") == "1"
    assert node.get("finishOnKey") == ""
    assert 5 <= int(node.get("timeout", "0")) <= 8
    assert node.get("action") == "/voice/menu/choose"
    assert node.get("method") == "POST"
    assert verbs(result) == ["Gather", "Redirect"]
    assert redirect(result) == "/voice/menu/choose"
    assert result.waiting_at == ("menu", "choose")
    assert result.state.tries == 0


def test_a_number_question_is_ended_by_hash() -> None:
    """Variable-length answers have no numDigits and finish on #."""
    question = Question("lessons", "number", (prompt("lesson_number"),), digits=None, timeout=8)
    node = gather(ask(context(), CallState(), question))
    assert node.get("numDigits") is None
    assert node.get("finishOnKey") == "#"
    assert node.get("timeout") == str(NUMBER_TIMEOUT)


def test_a_recording_question_beeps_and_ends_on_hash_or_silence() -> None:
    """Record: the prompt, then Record with maxLength and #, then a Redirect for silence."""
    result = ask(
        context(),
        CallState(),
        RecordQuestion("message", "recorded", (prompt("record_message"),), 120),
    )
    node = record(result)
    assert node.get("maxLength") == "120"
    assert node.get("finishOnKey") == "#"
    assert node.get("playBeep") == "true"
    assert node.get("action") == "/voice/message/recorded"
    assert verbs(result) == ["Say", "Record", "Redirect"]
    assert said(result) == [zh("record_message")]


def test_prompts_are_spoken_in_mandarin() -> None:
    """Say carries language cmn-CN for a Chinese-speaking member."""
    result = run("menu", "start")
    languages = {node.get("language") for node in xml(result).iter("Say")}
    assert languages == {"cmn-CN"}


def test_english_members_hear_english() -> None:
    """Say carries en-US and the English text for an English-language member."""
    result = run("menu", "start", ctx=context(language="en", name="Li Na"))
    assert [node.get("language") for node in xml(result).iter("Say")] == ["en-US", "en-US"]
    assert said(result) == [text("greeting", "en", name="Li Na"), text("main_menu", "en")]


def test_an_uploaded_recording_replaces_the_spoken_prompt() -> None:
    """A recording for a prompt is played instead of speech; a prompt with a name stays spoken."""
    url = "https://cdn.example.org/prompts/main_menu.wav"
    result = run("menu", "start", ctx=context(recordings={"main_menu": url, "greeting": "x"}))
    assert played(result) == [url]
    assert said(result) == [zh("greeting", name="张伟")]


@pytest.mark.parametrize(
    ("digits", "reason"), [(None, "no_input"), ("", "no_input"), ("8", "wrong_key")]
)
def test_a_retry_says_why_then_asks_again(digits: str | None, reason: str) -> None:
    """No key or a wrong key: the reason, then the same question, counted."""
    question = Question("menu", "choose", (prompt("main_menu"),))
    result = retry(context(), CallState(tries=0), Input(digits=digits), question)
    assert said(result) == [zh(reason), zh("main_menu")]
    assert result.state.tries == 1
    assert action(result) == "/voice/menu/choose"


def test_after_two_retries_the_caller_hears_how_to_call_back() -> None:
    """The third miss ends the call with the goodbye that explains calling back."""
    question = Question("menu", "choose", (prompt("main_menu"),))
    result = retry(context(), CallState(tries=MAX_RETRIES), Input(), question)
    assert verbs(result) == ["Say", "Hangup"]
    assert said(result) == [zh("goodbye_retry")]
    assert result.waiting_at is None


def test_an_unknown_step_starts_a_known_caller_again_from_the_menu() -> None:
    """An unknown flow or step is not an error: an apology and the main menu."""
    for flow, step in (("nope", "start"), ("report", "nope")):
        result = run(flow, step, CallState(tries=2))
        assert said(result) == [zh("sorry"), zh("main_menu")]
        assert action(result) == "/voice/menu/choose"
        assert result.state.tries == 0


def test_an_unknown_step_for_an_unknown_caller_asks_for_name_and_village() -> None:
    """Without a member there is no menu to return to: the unknown-caller recording."""
    result = run("menu", "choose", digits="1", ctx=context(known=False, name=None))
    assert action(result) == "/voice/unknown/recorded"


def test_a_step_leaves_the_stored_state_alone() -> None:
    """Steps return a new state: the state passed in is never changed, and cannot be."""
    stored = CallState(tries=1, report=ReportAnswers(studied=True, saved=True))
    result = run_step("report", "same_city", stored, Input(digits="1"), context())
    assert stored == CallState(tries=1, report=ReportAnswers(studied=True, saved=True))
    assert result.state.report == ReportAnswers(studied=True, same_city=True, saved=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stored.tries = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        stored.report.studied = False  # type: ignore[misc]


def test_every_flow_has_a_start_step() -> None:
    """Each flow can be entered at `start`."""
    assert all("start" in steps for steps in FLOWS.values())
    assert set(FLOWS) == {
        "menu",
        "report",
        "lessons",
        "status",
        "help",
        "deed",
        "tips",
        "message",
        "unknown",
        "outbound",
        "survey",
    }


def test_links_come_from_the_context() -> None:
    """Action URLs are built by the handler's link function (url_for in the app)."""
    ctx = context(link=lambda flow, step: f"/prefix/voice/{flow}/{step}")
    assert action(run("menu", "start", ctx=ctx)) == "/prefix/voice/menu/choose"
    assert KEY_TIMEOUT in range(5, 9)
