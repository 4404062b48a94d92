"""What an inbound SMS means for a member, in the context of the question last asked.

A step is a pure function, as a voice step is (ivr_flows.engine): `step(sender, command,
now, facts)` for a member's text and `stranger_step(phone, command, now, facts)` for a
number no member has. It reads only its arguments (the `Sender` with its open question, the
parsed `Command`, the time, and `Facts`: read-only lookups) and changes nothing. It returns an
`Outcome`: the reply (a template and its parameters), what the text was understood as, and
the effects (dataclasses) that `sms_flows.effects.carry_out` carries out, in order, in the
webhook's transaction. A step is never given a session or a connection.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from models import HelpCategory, period_of, try_normalize
from models.broadcast import NoticeSent
from models.deed import MAX_TEXT_CHARS, item_name
from models.help import help_category_name, ref_of
from models.inbound import Sender
from models.period import month_label
from models.phone_change import PendingChange
from models.question import (
    DeedAsked,
    HelpAsked,
    Question,
    ReportAnswers,
    Step,
    SurveyAsked,
    Topic,
)
from models.segments import count_segments
from models.survey_sms import read_answer
from models.templates import render
from sms_flows.keywords import Command, Kind, parse

# A question's topic tells how to read a reply that carries no keyword.
TOPIC_KEYWORD = {Topic.STATUS: "DT", Topic.HELP: "QZ", Topic.PHONE: "HH"}
# Every question the system asks by SMS, and the question it opens: a reply without a
# keyword is read in that state, and must accept every answer the question offers
# (tests/gateway/test_questions.py checks each against the template's text).
QUESTIONS: dict[str, tuple[Topic, Step]] = {
    "reminder": (Topic.REPORT, Step.STUDIED),
    "reminder_second": (Topic.REPORT, Step.STUDIED),
    "report_ask_studied": (Topic.REPORT, Step.STUDIED),
    "answer_invalid": (Topic.REPORT, Step.STUDIED),
    "report_ask_same": (Topic.REPORT, Step.SAME),
    "report_same_invalid": (Topic.REPORT, Step.SAME),
    "report_ask_place": (Topic.REPORT, Step.PLACE),
    "status_ask": (Topic.STATUS, Step.PLACE),
    "help_ask_category": (Topic.HELP, Step.CATEGORY),
    "help_ask_details": (Topic.HELP, Step.DETAILS),
    "help_details_added": (Topic.HELP, Step.DETAILS),
    "help_done": (Topic.HELP, Step.DETAILS),
    "phone_ask": (Topic.PHONE, Step.NUMBER),
    "phone_invalid": (Topic.PHONE, Step.NUMBER),
    "deed_ask_text": (Topic.DEED, Step.DETAILS),
    "survey_question": (Topic.SURVEY, Step.ANSWER),
    "survey_reminder": (Topic.SURVEY, Step.ANSWER),
}
# Words that answer "still in ... ?" with "yes, unchanged" (1 and 是 are answers already),
# so that 没变 is never taken for the name of a new employer.
SAME_WORDS = frozenset(
    {"没变", "没有变", "没变化", "没有变化", "不变", "还在", "一样", "照旧", "SAME", "UNCHANGED"}
)
# Words that answer "still in ... ?" with "no, it changed" (2 and 否 are answers already).
_END_MARKS = " .!。,"  # marks a member may end a word with
CHANGED_WORDS = frozenset({"变了", "变", "换了", "变化了", "有变化", "变动了", "改了", "CHANGED"})
LESSONS_LISTED = 4  # at most, newest first, as many as fit one segment


# What a step may read


class Facts(Protocol):
    """What a step may look up while it decides, read-only (never written)."""

    @property
    def region(self) -> str:
        """The region of phone numbers written without a country code."""
        ...

    def notice(self) -> NoticeSent | None:
        """The notice the member's text now may answer (models.broadcast)."""
        ...

    def phone_taken(self, phone: str) -> bool:
        """Whether a member already has this E.164 number."""
        ...

    def takes_details(self, request_id: int) -> bool:
        """Whether the member's help request still takes details (theirs, not resolved)."""
        ...

    def lesson_exists(self, number: int) -> bool:
        """Whether there is a lesson with this number."""
        ...

    def lesson_playable(self, number: int) -> bool:
        """Whether the voice provider's calls can play this lesson (Lesson.unplayable)."""
        ...

    def newest_lessons(self, limit: int) -> Sequence[tuple[int, str]]:
        """(number, title) of the newest lessons, newest first."""
        ...

    def may_call_back(self, lesson_id: int) -> bool:
        """Whether a call back with this lesson may be queued now (the day's limit)."""
        ...

    def pending_phone_change(self, phone: str) -> PendingChange | None:
        """The newest unconfirmed change of a member's phone to this number."""
        ...


# What a step answers


class Learned(enum.Enum):
    """A reply parameter only carrying out the effects tells (a receipt, a reference)."""

    RECEIPT = "receipt"  # of the report saved (SaveReport)
    CITY = "city"  # where the member now is, after SaveReport or MoveMember
    EMPLOYER = "employer"
    HELP_REF = "ref"  # of the help request opened (OpenHelpRequest)
    DEED_REF = "deed_ref"  # of the deed kept (SaveDeed)
    SURVEY_QUESTION = "question"  # a survey's question asked again (AskSurveyAgain)


@dataclass(frozen=True)
class Reply:
    """The SMS to answer with: a template and its parameters, some perhaps still to learn."""

    template_key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def filled(self, learned: Mapping[Learned, Any]) -> Reply:
        """The reply with each Learned parameter replaced by what the effects told."""
        params: dict[str, Any] | None = None
        for key, value in self.params.items():
            if isinstance(value, Learned):
                if params is None:
                    params = dict(self.params)
                params[key] = learned[value]
        return self if params is None else Reply(self.template_key, params)

    def render(self, language: str | None) -> str:
        """The reply text in the member's language."""
        return render(self.template_key, language, **self.params)


# Effects: the domain operations a step asks for, carried out in this order


@dataclass(frozen=True)
class SaveReport:
    """Save the member's report for a period (a new place given moves the member)."""

    period: str
    studied: bool | None
    city: str | None = None
    employer: str | None = None
    same: bool | None = None  # the member said the city and job are the same


@dataclass(frozen=True)
class MoveMember:
    """Move the member to a new city and/or employer, with history."""

    city: str | None
    employer: str | None


@dataclass(frozen=True)
class AskQuestion:
    """Open (or move on) the member's SMS question."""

    question: Question


@dataclass(frozen=True)
class CloseQuestion:
    """Forget the member's open question."""


@dataclass(frozen=True)
class OpenHelpRequest:
    """Open a help request; texts without a keyword in the next days join it (the question
    `help / details` is opened on it)."""

    category: HelpCategory
    text: str


@dataclass(frozen=True)
class AddHelpDetails:
    """Add a follow-up text to the member's open help request."""

    request_id: int
    text: str


@dataclass(frozen=True)
class OptOut:
    """Stop non-essential messages to the member (TD)."""


@dataclass(frozen=True)
class OptIn:
    """Resume messages to the member (DY)."""


@dataclass(frozen=True)
class StartPhoneChange:
    """Keep a pending change to a new number and text the code to it."""

    new_phone: str


@dataclass(frozen=True)
class ConfirmPhoneChange:
    """The code came back from the new phone: switch the member's number."""

    change_id: int


@dataclass(frozen=True)
class QueueCallback:
    """Queue a call back that plays a lesson, in the member's contact window."""

    lesson_id: int


@dataclass(frozen=True)
class SaveDeed:
    """Keep a deed for home (五个一 item 1-5) for the branch to confirm."""

    item: int
    text: str


@dataclass(frozen=True)
class KeepWithNotice:
    """The text answers a notice: keep it with the notice for the branch to read."""

    broadcast_id: int


@dataclass(frozen=True)
class AnswerSurvey:
    """Store the answer to a survey's question (and fill the card where it fills a field)."""

    survey_id: int
    question_id: int
    value: int | str


@dataclass(frozen=True)
class PassSurvey:
    """Move past a survey's question without an answer (out of range twice)."""

    survey_id: int
    question_id: int


@dataclass(frozen=True)
class AskSurveyAgain:
    """Ask a survey's question once more (the reply was out of range): the conversation is
    opened again, marked, and the reply carries the question (Learned.SURVEY_QUESTION)."""

    survey_id: int
    question_id: int


Effect = (
    SaveReport
    | MoveMember
    | AskQuestion
    | CloseQuestion
    | OpenHelpRequest
    | AddHelpDetails
    | OptOut
    | OptIn
    | StartPhoneChange
    | ConfirmPhoneChange
    | QueueCallback
    | KeepWithNotice
    | SaveDeed
    | AnswerSurvey
    | PassSurvey
    | AskSurveyAgain
)


@dataclass(frozen=True)
class MemberRef:
    """A member a stranger's text turned out to come from: whose, and their language."""

    id: int
    language: str


@dataclass(frozen=True)
class Outcome:
    """A step's answer: the reply, what the text was understood as (`command`; `handled`
    False keeps it for the branch to read), and the effects to carry out, in order."""

    reply: Reply
    command: str
    handled: bool = True
    effects: tuple[Effect, ...] = ()
    # Only for a stranger's text: the member whose new phone it came from.
    member: MemberRef | None = None

    def after(self, *effects: Effect) -> Outcome:
        """The same outcome with these effects carried out first."""
        return replace(self, effects=(*effects, *self.effects)) if effects else self


# The steps


@dataclass(frozen=True)
class _Turn:
    """What every handler reads: the sender, the question still open, the time, the facts."""

    sender: Sender
    question: Question | None
    now: datetime
    facts: Facts

    @property
    def language(self) -> str:
        return self.sender.language

    @cached_property
    def period(self) -> str:
        """The reporting period now, in the member's branch's time zone."""
        return period_of(self.now, self.sender.timezone)

    def close(self) -> tuple[Effect, ...]:
        """Forget the open question, if one is open."""
        return (CloseQuestion(),) if self.question is not None else ()


def step(sender: Sender, command: Command, now: datetime, facts: Facts) -> Outcome:
    """What a member's text asks for: the reply and the effects to carry out."""
    question = sender.question
    if question is not None and sender.expires_at is not None and sender.expires_at < now:
        return _handle(_Turn(sender, None, now, facts), command).after(CloseQuestion())
    return _handle(_Turn(sender, question, now, facts), command)


def stranger_step(phone: str, command: Command, now: datetime, facts: Facts) -> Outcome:
    """A number no member has: it may be confirming a phone change, else how to register."""
    if command.kind is Kind.ANSWER and command.answer:
        change = facts.pending_phone_change(phone)
        if change is not None:
            if change.code != command.answer or change.expires_at < now:
                return Outcome(Reply("phone_code_wrong"), "phone")
            # Another member may have taken the number since the code was sent.
            if change.language is not None and not facts.phone_taken(phone):
                return Outcome(
                    Reply("phone_changed", {"phone": phone}),
                    "phone",
                    effects=(ConfirmPhoneChange(change.id),),
                    member=MemberRef(change.member_id, change.language),
                )
    return Outcome(Reply("unmatched"), "unmatched", handled=False)


def _handle(turn: _Turn, command: Command) -> Outcome:
    if command.kind in (Kind.ANSWER, Kind.UNKNOWN):
        notice = _notice_reply(turn)
        if notice is not None:
            return notice
        if turn.question is not None:
            return _answer(turn, turn.question, command)
    handler = _HANDLERS.get(command.kind)
    if handler is None:  # UNKNOWN or EMPTY: the menu, kept for the branch to read
        return Outcome(Reply("menu"), command.kind.value, handled=False)
    return handler(turn, command)


def _notice_reply(turn: _Turn) -> Outcome | None:
    """A text with no keyword answers the newest notice that asked for answers, unless a
    question asked after that notice is open: the question last asked takes the answer.

    The text is kept for the branch with the notice; the member is thanked, not sent the menu.
    """
    notice = turn.facts.notice()
    if notice is None:
        return None
    asked_at = turn.sender.asked_at if turn.question is not None else None
    if asked_at is not None and asked_at > notice.sent_at:
        return None
    return Outcome(
        Reply("notice_reply_ack"),
        "notice",
        handled=False,
        effects=(KeepWithNotice(notice.broadcast_id),),
    )


def _ask(question: Question, reply: Reply, command: str, *, handled: bool = True) -> Outcome:
    return Outcome(reply, command, handled, (AskQuestion(question),))


def _report(turn: _Turn, command: Command) -> Outcome:
    if command.studied is None:
        params = {"name": turn.sender.name, "month": month_label(turn.period, turn.language)}
        return _ask(
            Question(Topic.REPORT, Step.STUDIED), Reply("report_ask_studied", params), "report"
        )
    return _record(turn, command.studied, command.city, command.employer, final=True)


def _record(
    turn: _Turn,
    studied: bool | None,
    city: str | None,
    employer: str | None,
    *,
    final: bool,
    same: bool | None = None,
) -> Outcome:
    sender = turn.sender
    save = SaveReport(turn.period, studied, city, employer, same)
    if not final:  # the first answer: studied or not; no place given, so none changes
        question = Question(Topic.REPORT, Step.SAME, ReportAnswers(studied))
        where = {"city": sender.city or "", "employer": sender.employer or ""}
        return Outcome(
            Reply("report_ask_same", where), "report", effects=(save, AskQuestion(question))
        )
    params: dict[str, Any] = {
        "name": sender.name,
        "month": month_label(turn.period, turn.language),
        "receipt": Learned.RECEIPT,
    }
    return Outcome(Reply("report_done", params), "report", effects=(save, *turn.close()))


def _status(turn: _Turn, command: Command) -> Outcome:
    city, employer = command.city, command.employer
    if not city and not employer:
        return _ask(Question(Topic.STATUS, Step.PLACE), Reply("status_ask"), "status")
    params = {"city": Learned.CITY, "employer": Learned.EMPLOYER}
    return Outcome(
        Reply("status_done", params),
        "status",
        effects=(MoveMember(city, employer), *turn.close()),
    )


def _phone(turn: _Turn, command: Command) -> Outcome:
    asking = Question(Topic.PHONE, Step.NUMBER)
    if not command.new_phone:
        return _ask(asking, Reply("phone_ask"), "phone")
    shown = command.new_phone[:20]
    new_phone = try_normalize(command.new_phone, turn.facts.region)
    if new_phone is None:
        return _ask(asking, Reply("phone_invalid", {"phone": shown}), "phone")
    if new_phone == turn.sender.phone or turn.facts.phone_taken(new_phone):
        return Outcome(Reply("phone_taken", {"phone": new_phone}), "phone", effects=turn.close())
    return Outcome(
        Reply("phone_code_sent", {"phone": new_phone}),
        "phone",
        effects=(StartPhoneChange(new_phone), *turn.close()),
    )


def _help(turn: _Turn, command: Command) -> Outcome:
    """Open a help request; the question stays open so follow-up texts join it."""
    if command.category is None and not command.text:
        return _ask(Question(Topic.HELP, Step.CATEGORY), Reply("help_ask_category"), "help")
    category = command.category or HelpCategory.OTHER
    params = {
        "category": help_category_name(category, turn.language),
        "ref": Learned.HELP_REF,
    }
    key = "help_done" if command.text else "help_ask_details"
    return Outcome(
        Reply(key, params), "help", effects=(OpenHelpRequest(category, command.text or ""),)
    )


def _help_details(turn: _Turn, request_id: int, command: Command) -> Outcome:
    """A follow-up text joins the open help request; the menu when the request is closed."""
    text = command.normalized
    if not text.strip() or not turn.facts.takes_details(request_id):
        return Outcome(Reply("menu"), command.kind.value, handled=False, effects=turn.close())
    question = Question(Topic.HELP, Step.DETAILS, HelpAsked(request_id))  # later texts too
    return Outcome(
        Reply("help_details_added", {"ref": ref_of(request_id)}),
        "help",
        effects=(AddHelpDetails(request_id, text), AskQuestion(question)),
    )


def _lessons(turn: _Turn, command: Command) -> Outcome:
    number = command.lesson_no
    if number is None:
        return _lesson_list(turn)
    if not turn.facts.lesson_exists(number):
        return Outcome(Reply("lesson_unknown", {"number": number}), "lessons")
    if not turn.facts.lesson_playable(number):
        return Outcome(Reply("lesson_unplayable", {"number": number}), "lessons")
    if not turn.facts.may_call_back(number):
        return Outcome(Reply("callback_limit"), "lessons")
    return Outcome(
        Reply("lesson_callback", {"number": number}),
        "lessons",
        effects=(QueueCallback(number),),
    )


def _lesson_list(turn: _Turn) -> Outcome:
    lessons = turn.facts.newest_lessons(LESSONS_LISTED)
    if not lessons:
        return Outcome(Reply("lessons_none"), "lessons")
    items: list[str] = []
    for number, title in lessons:
        candidate = [*items, f"{number}.{title[:10]}"]
        text = render("lessons_list", turn.language, items=" ".join(candidate))
        if items and count_segments(text).segments > 1:
            break
        items = candidate
    # A single long title is cut until the reply fits one segment.
    while len(items) == 1 and len(items[0]) > 4:
        text = render("lessons_list", turn.language, items=items[0])
        if count_segments(text).segments == 1:
            break
        items = [items[0][:-1]]
    return Outcome(Reply("lessons_list", {"items": " ".join(items)}), "lessons")


def _deed(turn: _Turn, command: Command) -> Outcome:
    """A deed for home: the item and the text kept; no text asks for it (once); no item or
    one outside 1-5 answers with the list of items (the text is kept for the branch)."""
    item = command.item
    if item is None:  # words without an item stay unhandled, for the branch to read
        return Outcome(Reply("deed_items"), "deed", handled=not command.text, effects=turn.close())
    name = item_name(item, turn.language)
    if not command.text:
        question = Question(Topic.DEED, Step.DETAILS, DeedAsked(item))
        return _ask(question, Reply("deed_ask_text", {"item": name}), "deed")
    return _deed_saved(turn, item, command.text[:MAX_TEXT_CHARS])


def _deed_saved(turn: _Turn, item: int, text: str) -> Outcome:
    params = {"item": item_name(item, turn.language), "ref": Learned.DEED_REF}
    return Outcome(
        Reply("deed_done", params), "deed", effects=(SaveDeed(item, text), *turn.close())
    )


def _deed_text(turn: _Turn, item: int, command: Command) -> Outcome:
    """The answer to "what did you do?": any words are the deed; digits alone or a yes/no
    are not, and the question is not asked a second time (the menu, kept for the branch)."""
    if command.kind is Kind.ANSWER or not command.normalized.strip(_END_MARKS):
        return Outcome(Reply("menu"), "deed", handled=False, effects=turn.close())
    return _deed_saved(turn, item, command.normalized[:MAX_TEXT_CHARS])


def _opt_out(turn: _Turn, command: Command) -> Outcome:
    return Outcome(Reply("opted_out"), "opt_out", effects=(OptOut(), *turn.close()))


def _opt_in(turn: _Turn, command: Command) -> Outcome:
    return Outcome(Reply("opted_in"), "opt_in", effects=(OptIn(),))


def _menu(turn: _Turn, command: Command) -> Outcome:
    return Outcome(Reply("menu"), "menu")


def _stray_answer(turn: _Turn, command: Command) -> Outcome:
    return Outcome(Reply("answer_no_question"), "answer", handled=False)


def _answer(turn: _Turn, question: Question, command: Command) -> Outcome:
    """Digits or free text answering the open question."""
    topic, at = question.topic, question.step
    if topic is Topic.REPORT and at is Step.STUDIED:
        if command.answer in ("1", "2"):
            return _record(turn, command.answer == "1", None, None, final=False)
        again = parse("HB " + command.normalized)
        if again.studied is not None:
            return _record(turn, again.studied, again.city, again.employer, final=True)
        return Outcome(Reply("answer_invalid"), "report", handled=False)
    if topic is Topic.REPORT:  # still the same place? or: where now?
        studied = question.data.studied if isinstance(question.data, ReportAnswers) else None
        if at is Step.SAME and (command.answer == "1" or _word(command) in SAME_WORDS):
            return _record(turn, studied, None, None, final=True, same=True)
        if at is Step.SAME and _changed(command):
            place = Question(Topic.REPORT, Step.PLACE, ReportAnswers(studied))
            return _ask(place, Reply("report_ask_place"), "report")
        given = parse("DT " + command.normalized)
        if command.answer is None and (given.city or given.employer):
            return _record(turn, studied, given.city, given.employer, final=True)
        again_key = "report_same_invalid" if at is Step.SAME else "report_ask_place"
        return Outcome(Reply(again_key), "report", handled=False)
    if topic is Topic.SURVEY and isinstance(question.data, SurveyAsked):
        return _survey_answer(question.data, command)
    if topic is Topic.DEED and isinstance(question.data, DeedAsked) and question.data.item:
        return _deed_text(turn, question.data.item, command)
    request_id = question.data.request_id if isinstance(question.data, HelpAsked) else None
    if at is Step.DETAILS and request_id is not None:
        return _help_details(turn, request_id, command)
    keyword = TOPIC_KEYWORD.get(topic)
    if keyword is not None:
        # The open question is reused or closed by the command's own handler.
        return _handle(turn, parse(f"{keyword} {command.normalized}"))
    return Outcome(  # pragma: no cover - every topic is read above
        Reply("menu"), "answer", handled=False, effects=turn.close()
    )


def _survey_answer(asked: SurveyAsked, command: Command) -> Outcome:
    """A reply to a survey's question: a digit in range, a number or a text answers it; a
    reply out of range gets the question once more, then the survey moves on without it."""
    given = command.normalized
    if asked.kind == "choice" and command.answer is not None:
        given = command.answer  # 是/否 are 1/2 as everywhere
    value = read_answer(asked.kind, asked.choices, given)
    ids = (asked.survey_id, asked.question_id)
    done = "survey_finished" if asked.last else "survey_answered"
    if value is not None:
        return Outcome(Reply(done), "survey", effects=(AnswerSurvey(*ids, value), CloseQuestion()))
    if not asked.again:
        return Outcome(
            Reply("survey_question", {"question": Learned.SURVEY_QUESTION}),
            "survey",
            handled=False,
            effects=(AskSurveyAgain(*ids),),
        )
    passed = "survey_finished" if asked.last else "survey_skipped"
    return Outcome(
        Reply(passed), "survey", handled=False, effects=(PassSurvey(*ids), CloseQuestion())
    )


def _changed(command: Command) -> bool:
    """Whether a reply to "still in ... ?" says no, it changed (2, 否, 变了 ...)."""
    if command.answer is not None:
        return command.answer == "2"
    return _word(command) in CHANGED_WORDS


def _word(command: Command) -> str:
    """A one-word reply as compared with the word lists: no end marks, upper case."""
    return command.normalized.strip(_END_MARKS).upper()


_HANDLERS: dict[Kind, Callable[[_Turn, Command], Outcome]] = {
    Kind.REPORT: _report,
    Kind.STATUS: _status,
    Kind.PHONE: _phone,
    Kind.HELP: _help,
    Kind.LESSONS: _lessons,
    Kind.DEED: _deed,
    Kind.OPT_OUT: _opt_out,
    Kind.OPT_IN: _opt_in,
    Kind.MENU: _menu,
    Kind.ANSWER: _stray_answer,
}
