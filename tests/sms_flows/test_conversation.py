"""SMS steps as pure functions: a Sender, a Command and the time in; a reply and effects out.

No database is set up here: the steps see nothing but their arguments and FixedFacts, so a
step that tried to read or write a table would have nothing to do it with.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from datetime import timedelta
from pathlib import Path

import pytest

from models.broadcast import NoticeSent
from models.help import HelpCategory
from models.phone_change import PendingChange
from models.question import HelpAsked, Question, ReportAnswers, Step, Topic
from sms_flows import conversation
from sms_flows.conversation import (
    AddHelpDetails,
    AskQuestion,
    CloseQuestion,
    ConfirmPhoneChange,
    KeepWithNotice,
    Learned,
    MemberRef,
    MoveMember,
    OpenHelpRequest,
    OptIn,
    OptOut,
    Outcome,
    QueueCallback,
    Reply,
    SaveReport,
    StartPhoneChange,
    step,
    stranger_step,
)
from sms_flows.keywords import parse
from tests.sms_flows.facts import NOW, FixedFacts, sender

STUDIED = Question(Topic.REPORT, Step.STUDIED)
SAME = Question(Topic.REPORT, Step.SAME, ReportAnswers(studied=True))
PLACE = Question(Topic.REPORT, Step.PLACE, ReportAnswers(studied=False))
DETAILS = Question(Topic.HELP, Step.DETAILS, HelpAsked(12))


def run(text: str, question: Question | None = None, facts: FixedFacts | None = None) -> Outcome:
    """The step for a text of 王建国 with this question open."""
    return step(sender(question), parse(text), NOW, facts or FixedFacts())


# --- the monthly report ----------------------------------------------------------------------


def test_a_full_report_saves_it_and_quotes_the_receipt_to_learn() -> None:
    """`HB 1` saves the November report; the reply's receipt is learned from the save."""
    outcome = run("HB 1")
    assert outcome.effects == (SaveReport("2026-11", True),)
    assert outcome.reply == Reply(
        "report_done", {"name": "王建国", "month": "11", "receipt": Learned.RECEIPT}
    )
    assert (outcome.command, outcome.handled) == ("report", True)


def test_a_report_closes_the_question_only_when_one_is_open() -> None:
    """With a question open, the report also forgets it; with none, nothing is deleted."""
    assert run("HB 2 深圳 富士康", SAME).effects == (
        SaveReport("2026-11", False, "深圳", "富士康"),
        CloseQuestion(),
    )
    assert CloseQuestion() not in run("HB 2 深圳 富士康").effects


def test_a_bare_keyword_asks_whether_the_member_studied() -> None:
    """`HB` opens the report question and asks it by name and month."""
    outcome = run("HB")
    assert outcome.effects == (AskQuestion(STUDIED),)
    assert outcome.reply == Reply("report_ask_studied", {"name": "王建国", "month": "11"})


def test_the_first_answer_is_saved_and_asks_about_the_place() -> None:
    """`1` to "studied?" saves the report at once and asks "still in 广州 电子厂?"."""
    outcome = run("1", STUDIED)
    assert outcome.effects == (SaveReport("2026-11", True), AskQuestion(SAME))
    assert outcome.reply == Reply("report_ask_same", {"city": "广州", "employer": "电子厂"})


@pytest.mark.parametrize("text", ["1", "没变", "是"])
def test_same_place_completes_the_report(text: str) -> None:
    """`1`, `没变` or `是` to "still in ...?" completes the report as the same place."""
    outcome = run(text, SAME)
    assert outcome.effects == (SaveReport("2026-11", True, same=True), CloseQuestion())
    assert outcome.reply.template_key == "report_done"


@pytest.mark.parametrize("text", ["2", "变了"])
def test_a_changed_place_asks_where(text: str) -> None:
    """`2` or `变了` asks where the member is now, keeping the studied answer."""
    outcome = run(text, SAME)
    assert outcome.effects == (
        AskQuestion(Question(Topic.REPORT, Step.PLACE, ReportAnswers(studied=True))),
    )
    assert outcome.reply == Reply("report_ask_place")


def test_the_new_place_completes_the_report_with_the_studied_answer() -> None:
    """`深圳 富士康` to "where now?" saves the report with the answer kept in the question."""
    outcome = run("深圳 富士康", PLACE)
    assert outcome.effects == (SaveReport("2026-11", False, "深圳", "富士康"), CloseQuestion())


def test_a_wrong_answer_is_asked_again_and_kept_for_the_branch() -> None:
    """`9` to "studied?" changes nothing, asks again, and is kept unhandled."""
    outcome = run("9", STUDIED)
    assert outcome == Outcome(Reply("answer_invalid"), "report", handled=False)


def test_an_expired_question_is_forgotten_first_and_not_answered() -> None:
    """A bare `1` after the question expired saves nothing: the question is forgotten."""
    expired = sender(STUDIED, expires=timedelta(minutes=-1))
    outcome = step(expired, parse("1"), NOW, FixedFacts())
    assert outcome.effects == (CloseQuestion(),)
    assert outcome == Outcome(Reply("answer_no_question"), "answer", False, (CloseQuestion(),))


# --- status, help, phone, lessons, opting out ------------------------------------------------


def test_a_status_update_moves_the_member_and_quotes_where_to_learn() -> None:
    """`DT 深圳` moves the member; the reply quotes the place as the move leaves it."""
    outcome = run("DT 深圳")
    assert outcome.effects == (MoveMember("深圳", None),)
    assert outcome.reply == Reply(
        "status_done", {"city": Learned.CITY, "employer": Learned.EMPLOYER}
    )


def test_a_help_request_is_opened_with_its_text() -> None:
    """`QZ 1 工资拖欠三个月` opens a wages request; the reference comes from the opening."""
    outcome = run("QZ 1 工资拖欠三个月")
    assert outcome.effects == (OpenHelpRequest(HelpCategory.WAGES, "工资拖欠三个月"),)
    assert outcome.reply == Reply("help_done", {"category": "工资", "ref": Learned.HELP_REF})


def test_a_follow_up_text_joins_the_open_request() -> None:
    """A text with no keyword joins request 12 and keeps its question open."""
    facts = FixedFacts(open_requests=frozenset({12}))
    outcome = run("他们今天又来了", DETAILS, facts)
    assert outcome.effects == (AddHelpDetails(12, "他们今天又来了"), AskQuestion(DETAILS))
    assert outcome.reply == Reply("help_details_added", {"ref": "QZ12"})


def test_a_follow_up_to_a_resolved_request_gets_the_menu() -> None:
    """Request 12 resolved: the text is kept for the branch, the question forgotten."""
    outcome = run("他们今天又来了", DETAILS, FixedFacts())
    assert outcome == Outcome(Reply("menu"), "unknown", False, (CloseQuestion(),))


def test_a_phone_change_texts_a_code_to_the_new_number() -> None:
    """`HH 13912345678` starts a change to the E.164 number."""
    outcome = run("HH 13912345678")
    assert outcome.effects == (StartPhoneChange("+8613912345678"),)
    assert outcome.reply == Reply("phone_code_sent", {"phone": "+8613912345678"})


def test_a_phone_another_member_has_is_refused() -> None:
    """A number taken by someone else starts nothing."""
    outcome = run("HH 13912345678", facts=FixedFacts(taken=frozenset({"+8613912345678"})))
    assert outcome == Outcome(Reply("phone_taken", {"phone": "+8613912345678"}), "phone")


@pytest.mark.parametrize(
    ("facts", "reply", "effects"),
    [
        (FixedFacts(lessons=((3, "种植"),)), Reply("lesson_callback", {"number": 3}), 1),
        (FixedFacts(lessons=((3, "种植"),), callbacks_left=False), Reply("callback_limit"), 0),
        (FixedFacts(), Reply("lesson_unknown", {"number": 3}), 0),
        (
            FixedFacts(lessons=((3, "种植"),), unplayable=frozenset({3})),
            Reply("lesson_unplayable", {"number": 3}),
            0,
        ),
    ],
)
def test_a_lesson_by_number_queues_a_call_back_within_the_limit(
    facts: FixedFacts, reply: Reply, effects: int
) -> None:
    """`XX 3`: a call back with lesson 3, unless the day's calls are used up, there is no
    lesson 3, or the provider's calls cannot play it."""
    outcome = run("XX 3", facts=facts)
    assert outcome.reply == reply
    assert outcome.effects == (QueueCallback(3),) * effects


def test_the_lesson_list_fits_one_segment() -> None:
    """`XX` lists the newest lessons that fit one SMS."""
    facts = FixedFacts(lessons=((9, "新农合报销"), (8, "种植技术"), (7, "劳动合同")))
    outcome = run("XX", facts=facts)
    assert outcome.reply == Reply("lessons_list", {"items": "9.新农合报销 8.种植技术 7.劳动合同"})
    assert outcome.effects == ()


def test_opting_out_and_in() -> None:
    """`TD` opts out and forgets the open question; `DY` opts back in."""
    assert run("TD", STUDIED).effects == (OptOut(), CloseQuestion())
    assert run("DY").effects == (OptIn(),)


# --- notices and strangers -------------------------------------------------------------------


def test_a_reply_to_a_newer_notice_is_kept_with_it() -> None:
    """A notice sent after the question was asked takes the bare `2`."""
    notice = NoticeSent(broadcast_id=5, sent_at=NOW - timedelta(minutes=10))
    outcome = run("2", STUDIED, FixedFacts(notice_sent=notice))
    assert outcome == Outcome(Reply("notice_reply_ack"), "notice", False, (KeepWithNotice(5),))


def test_a_question_asked_after_the_notice_takes_the_answer() -> None:
    """The question asked after the notice is the one answered."""
    notice = NoticeSent(broadcast_id=5, sent_at=NOW - timedelta(hours=3))
    outcome = run("2", STUDIED, FixedFacts(notice_sent=notice))
    assert outcome.effects[0] == SaveReport("2026-11", False)


def test_a_keyword_never_looks_for_a_notice() -> None:
    """A command is carried out without reading the notices (one statement less)."""
    facts = FixedFacts()
    run("HB 1", facts=facts)
    assert facts.looked_up == []


def test_a_stranger_confirming_a_phone_change() -> None:
    """The right code from the new phone switches the member's number, in their language."""
    change = PendingChange(3, 7, "123456", NOW + timedelta(days=1), "en")
    facts = FixedFacts(changes={"+8613912345678": change})
    outcome = stranger_step("+8613912345678", parse("123456"), NOW, facts)
    assert outcome.effects == (ConfirmPhoneChange(3),)
    assert outcome.member == MemberRef(7, "en")
    assert outcome.reply == Reply("phone_changed", {"phone": "+8613912345678"})
    wrong = stranger_step("+8613912345678", parse("654321"), NOW, facts)
    assert wrong == Outcome(Reply("phone_code_wrong"), "phone")


def test_a_phone_taken_since_the_code_was_sent_is_not_switched() -> None:
    """Another member has the new number by now: nothing changes, the text is unmatched."""
    change = PendingChange(3, 7, "123456", NOW + timedelta(days=1), "en")
    facts = FixedFacts(changes={"+8613912345678": change}, taken=frozenset({"+8613912345678"}))
    outcome = stranger_step("+8613912345678", parse("123456"), NOW, facts)
    assert outcome == Outcome(Reply("unmatched"), "unmatched", handled=False)


def test_a_stranger_is_told_how_to_register() -> None:
    """Any other text from an unknown number: how to register, kept as unmatched."""
    outcome = stranger_step("+8613999999999", parse("HB 1"), NOW, FixedFacts())
    assert outcome == Outcome(Reply("unmatched"), "unmatched", handled=False)


# --- the reply -------------------------------------------------------------------------------


def test_learned_parameters_are_filled_from_the_effects() -> None:
    """The receipt the save returned goes into the reply; other parameters stay."""
    reply = Reply("report_done", {"name": "王建国", "month": "11", "receipt": Learned.RECEIPT})
    filled = reply.filled({Learned.RECEIPT: "AB2C3D"})
    assert filled.params == {"name": "王建国", "month": "11", "receipt": "AB2C3D"}
    assert "AB2C3D" in filled.render("zh_CN")


# --- purity, by construction -----------------------------------------------------------------


def test_steps_take_no_session_connection_or_request() -> None:
    """A step's only inputs are the sender, the command, the time and read-only facts; the
    module imports nothing that reaches a database, a request or the app."""
    assert list(inspect.signature(step).parameters) == ["sender", "command", "now", "facts"]
    assert list(inspect.signature(stranger_step).parameters) == [
        "phone",
        "command",
        "now",
        "facts",
    ]
    source = Path(inspect.getfile(conversation)).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    reaching = {"sqlalchemy", "flask", "models.sql", "models.sql.Raw", "sms_flows.effects"}
    assert not {name for name in imported if name.split(".")[0] in {"sqlalchemy", "flask"}}
    assert not imported & reaching


def test_the_sender_cannot_be_changed_by_a_step() -> None:
    """The sender is read once and frozen: a step cannot write its new place or question."""
    member = sender(STUDIED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        member.city = "深圳"  # type: ignore[misc]  # the assignment a frozen dataclass refuses
