"""What an inbound SMS means for a member, in the context of the question last asked.

`handle_sms` turns a parsed command into domain operations and names the reply template.
It never commits: the webhook commits once, then jobs go out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from models import (
    CallbackReason,
    ChangeSource,
    Channel,
    HelpCategory,
    Lesson,
    Member,
    PhoneChange,
    change_phone,
    period_of,
    try_normalize,
)
from models.broadcast import NoticeSent, notice_awaiting_reply
from models.help import add_help_details, help_category_name, ref_of, save_help_request
from models.inbound import Sender
from models.member import PhoneTaken, move_member, phone_taken, set_opted_out
from models.message import forget_question, open_question
from models.outbox import queue_sms
from models.period import month_label
from models.report import save_report
from models.segments import count_segments
from models.sql import Raw
from models.templates import render
from models.voice import request_callback
from sms_flows.keywords import Command, Kind, parse

PHONE_CODE_TTL = timedelta(days=3)
# A conversation's topic tells how to read a reply that carries no keyword.
TOPIC_KEYWORD = {"status": "DT", "help": "QZ", "phone": "HH"}
# Every question the system asks by SMS, and the conversation state it opens: a reply
# without a keyword is read in that state, and must accept every answer the question offers
# (tests/gateway/test_questions.py checks each against the template's text).
QUESTIONS: dict[str, tuple[str, str]] = {
    "reminder": ("report", "studied"),
    "reminder_second": ("report", "studied"),
    "report_ask_studied": ("report", "studied"),
    "answer_invalid": ("report", "studied"),
    "report_ask_same": ("report", "same"),
    "report_same_invalid": ("report", "same"),
    "report_ask_place": ("report", "place"),
    "status_ask": ("status", "place"),
    "help_ask_category": ("help", "category"),
    "help_ask_details": ("help", "details"),
    "help_details_added": ("help", "details"),
    "help_done": ("help", "details"),
    "phone_ask": ("phone", "number"),
    "phone_invalid": ("phone", "number"),
}
# Words that answer "still in ... ?" with "yes, unchanged" (1 and 是 are answers already),
# so that 没变 is never taken for the name of a new employer.
SAME_WORDS = frozenset(
    {"没变", "没有变", "没变化", "没有变化", "不变", "还在", "一样", "照旧", "SAME", "UNCHANGED"}
)
# Words that answer "still in ... ?" with "no, it changed" (2 and 否 are answers already).
_END_MARKS = " .!。,"  # marks a member may end a word with
CHANGED_WORDS = frozenset({"变了", "变", "换了", "变化了", "有变化", "变动了", "改了", "CHANGED"})


@dataclass
class Reply:
    """The reply to send back, and what the inbound message was understood as."""

    template_key: str
    params: dict[str, Any] = field(default_factory=dict)
    handled: bool = True
    command: str = ""
    outbox_ids: list[int] = field(default_factory=list)
    callback_ids: list[int] = field(default_factory=list)
    # The notice this text answers, if it is a reply to one.
    broadcast_id: int | None = None

    def render(self, language: str | None) -> str:
        """The reply text in the member's language."""
        return render(self.template_key, language, **self.params)


@dataclass
class Context:
    """Everything a handler needs about the sender and the moment.

    The common commands write through the raw connection (models.sql); the rare ones (phone
    change, lessons) use ORM objects from a session on the same connection and transaction.
    """

    raw: Raw
    connection: Connection
    sender: Sender
    now: datetime
    ttl_hours: int
    region: str
    callbacks_per_day: int
    _session: Session | None = field(default=None, repr=False)

    @property
    def language(self) -> str:
        """The member's language code."""
        return self.sender.language

    @property
    def period(self) -> str:
        """The reporting period now, in the member's branch's time zone."""
        return period_of(self.now, self.sender.timezone)

    @property
    def session(self) -> Session:
        """An ORM session in this transaction, made when a handler first needs one."""
        if self._session is None:
            self._session = Session(bind=self.connection, autoflush=True)
        return self._session

    def member(self) -> Member:
        """The sender as an ORM object (read in this transaction)."""
        member = self.session.get(Member, self.sender.id)
        assert member is not None
        return member

    def flush(self) -> None:
        """Write what the ORM session holds, before the text is stored and committed."""
        if self._session is not None:
            self._session.flush()

    def release(self) -> None:
        """Close the ORM session, if one was made (the transaction is the webhook's)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def open_question(self, topic: str, step: str, **data: Any) -> None:
        """Open (or move on) the member's SMS question."""
        sender = self.sender
        sender.expires_at = open_question(
            self.raw,
            sender.id,
            topic=topic,
            step=step,
            data=data,
            now=self.now,
            ttl_hours=self.ttl_hours,
        )
        sender.topic, sender.step, sender.data, sender.asked_at = topic, step, data, self.now

    def notice(self) -> NoticeSent | None:
        """The notice a reply now may answer (see models.broadcast.notice_awaiting_reply)."""
        return notice_awaiting_reply(self.raw, self.sender.id, self.now)

    def close(self) -> None:
        """Forget the open question."""
        sender = self.sender
        if sender.topic is not None:
            forget_question(self.raw, sender.id)
            sender.topic = sender.step = sender.expires_at = sender.asked_at = None
            sender.data = {}


def handle_unmatched(
    session: Session, phone: str, command: Command, now: datetime
) -> tuple[Reply, Member | None]:
    """A number no member has: it may be confirming a phone change, else how to register."""
    if command.kind is Kind.ANSWER and command.answer:
        change = session.scalar(
            select(PhoneChange)
            .where(PhoneChange.new_phone == phone, PhoneChange.confirmed_at.is_(None))
            .order_by(PhoneChange.created_at.desc())
            .limit(1)
        )
        if change is not None:
            if change.code != command.answer or change.expires_at < now:
                return Reply("phone_code_wrong", handled=True, command="phone"), None
            member = session.get(Member, change.member_id)
            if member is not None:
                try:
                    change_phone(session, member, phone, source=ChangeSource.SMS, at=now)
                except PhoneTaken:  # another member took the number since the code was sent
                    return Reply("unmatched", handled=False, command="unmatched"), None
                change.confirmed_at = now
                return Reply("phone_changed", {"phone": phone}, command="phone"), member
    return Reply("unmatched", handled=False, command="unmatched"), None


def handle_sms(ctx: Context, command: Command) -> Reply:
    """Carry out what a member's text asks for and choose the reply."""
    sender = ctx.sender
    if sender.topic is not None and sender.expires_at is not None and sender.expires_at < ctx.now:
        ctx.close()
    if command.kind in (Kind.ANSWER, Kind.UNKNOWN):
        reply = _notice_reply(ctx)
        if reply is not None:
            return reply
        if sender.topic is not None:
            return _answer(ctx, command)
    handler = _HANDLERS.get(command.kind)
    if handler is None:  # UNKNOWN or EMPTY: the menu, kept for the branch to read
        return Reply("menu", handled=False, command=command.kind.value)
    return handler(ctx, command)


def _notice_reply(ctx: Context) -> Reply | None:
    """A text with no keyword answers the newest notice that asked for answers, unless a
    question asked after that notice is open: the question last asked takes the answer.

    The text is kept for the branch with the notice; the member is thanked, not sent the menu.
    """
    notice = ctx.notice()
    if notice is None:
        return None
    asked_at = ctx.sender.asked_at if ctx.sender.topic is not None else None
    if asked_at is not None and asked_at > notice.sent_at:
        return None
    return Reply(
        "notice_reply_ack", handled=False, command="notice", broadcast_id=notice.broadcast_id
    )


def _report(ctx: Context, command: Command) -> Reply:
    if command.studied is None:
        ctx.open_question("report", "studied")
        return Reply(
            "report_ask_studied",
            {"name": ctx.sender.name, "month": month_label(ctx.period, ctx.language)},
            command="report",
        )
    return _record(ctx, command.studied, command.city, command.employer, final=True)


def _record(
    ctx: Context,
    studied: bool | None,
    city: str | None,
    employer: str | None,
    *,
    final: bool,
    same: bool | None = None,
) -> Reply:
    sender = ctx.sender
    report = save_report(
        ctx.raw,
        sender.id,
        current=(sender.city, sender.employer),
        period=ctx.period,
        studied=studied,
        channel=Channel.SMS,
        city=city,
        employer=employer,
        same_city=same,
        same_employer=same,
        at=ctx.now,
    )
    sender.city, sender.employer = report.city, report.employer
    if not final:
        ctx.open_question("report", "same", studied=studied)
        return Reply(
            "report_ask_same",
            {"city": sender.city or "", "employer": sender.employer or ""},
            command="report",
        )
    ctx.close()
    return Reply(
        "report_done",
        {
            "name": sender.name,
            "month": month_label(ctx.period, ctx.language),
            "receipt": report.receipt,
        },
        command="report",
    )


def _status(ctx: Context, command: Command) -> Reply:
    city, employer = command.city, command.employer
    if not city and not employer:
        ctx.open_question("status", "place")
        return Reply("status_ask", command="status")
    sender = ctx.sender
    sender.city, sender.employer = move_member(
        ctx.raw,
        sender.id,
        current=(sender.city, sender.employer),
        city=city,
        employer=employer,
        source=ChangeSource.SMS,
        at=ctx.now,
    )
    ctx.close()
    return Reply(
        "status_done",
        {"city": sender.city or "", "employer": sender.employer or ""},
        command="status",
    )


def _phone(ctx: Context, command: Command) -> Reply:
    if not command.new_phone:
        ctx.open_question("phone", "number")
        return Reply("phone_ask", command="phone")
    shown = command.new_phone[:20]
    new_phone = try_normalize(command.new_phone, ctx.region)
    if new_phone is None:
        ctx.open_question("phone", "number")
        return Reply("phone_invalid", {"phone": shown}, command="phone")
    if new_phone == ctx.sender.phone or phone_taken(ctx.raw, new_phone):
        ctx.close()
        return Reply("phone_taken", {"phone": new_phone}, command="phone")
    code = f"{secrets.randbelow(1_000_000):06d}"
    ctx.session.add(
        PhoneChange(
            member_id=ctx.sender.id,
            new_phone=new_phone,
            code=code,
            expires_at=ctx.now + PHONE_CODE_TTL,
            created_at=ctx.now,
        )
    )
    message = queue_sms(
        ctx.session,
        template_key="phone_code",
        params={"code": code},
        phone=new_phone,
        member=None,
        essential=True,
        at=ctx.now,
    )
    ctx.close()
    return Reply("phone_code_sent", {"phone": new_phone}, command="phone", outbox_ids=[message.id])


def _help(ctx: Context, command: Command) -> Reply:
    """Open a help request; the conversation stays open so follow-up texts join it."""
    if command.category is None and not command.text:
        ctx.open_question("help", "category")
        return Reply("help_ask_category", command="help")
    category = command.category or HelpCategory.OTHER
    request_id = save_help_request(
        ctx.raw,
        ctx.sender.id,
        category=category,
        text=command.text or "",
        channel=Channel.SMS,
        at=ctx.now,
    )
    ctx.open_question("help", "details", request=request_id)
    params = {"category": help_category_name(category, ctx.language), "ref": ref_of(request_id)}
    if not command.text:
        return Reply("help_ask_details", params, command="help")
    return Reply("help_done", params, command="help")


def _help_details(ctx: Context, command: Command) -> Reply | None:
    """A follow-up text joins the open help request; None when the request is closed."""
    request_id = int(ctx.sender.data.get("request") or 0)
    if not add_help_details(ctx.raw, request_id, ctx.sender.id, command.normalized):
        ctx.close()
        return None
    ctx.open_question("help", "details", request=request_id)  # later texts join it too
    return Reply("help_details_added", {"ref": ref_of(request_id)}, command="help")


def _lessons(ctx: Context, command: Command) -> Reply:
    if command.lesson_no is None:
        return _lesson_list(ctx)
    lesson = ctx.session.get(Lesson, command.lesson_no)
    if lesson is None:
        return Reply("lesson_unknown", {"number": command.lesson_no}, command="lessons")
    callback = request_callback(
        ctx.session,
        ctx.member(),
        lesson_id=lesson.id,
        reason=CallbackReason.LESSON,
        now=ctx.now,
        per_day=ctx.callbacks_per_day,
    )
    if callback is None:
        return Reply("callback_limit", command="lessons")
    return Reply(
        "lesson_callback", {"number": lesson.id}, command="lessons", callback_ids=[callback.id]
    )


def _lesson_list(ctx: Context) -> Reply:
    lessons = ctx.session.scalars(select(Lesson).order_by(Lesson.id.desc()).limit(4)).all()
    if not lessons:
        return Reply("lessons_none", command="lessons")
    items: list[str] = []
    for lesson in lessons:
        candidate = [*items, f"{lesson.id}.{lesson.title[:10]}"]
        text = render("lessons_list", ctx.language, items=" ".join(candidate))
        if items and count_segments(text).segments > 1:
            break
        items = candidate
    # A single long title is cut until the reply fits one segment.
    while len(items) == 1 and len(items[0]) > 4:
        text = render("lessons_list", ctx.language, items=items[0])
        if count_segments(text).segments == 1:
            break
        items = [items[0][:-1]]
    return Reply("lessons_list", {"items": " ".join(items)}, command="lessons")


def _opt_out(ctx: Context, command: Command) -> Reply:
    set_opted_out(ctx.raw, ctx.sender.id, ctx.now)
    ctx.close()
    return Reply("opted_out", command="opt_out")


def _opt_in(ctx: Context, command: Command) -> Reply:
    set_opted_out(ctx.raw, ctx.sender.id, None)
    return Reply("opted_in", command="opt_in")


def _menu(ctx: Context, command: Command) -> Reply:
    return Reply("menu", command="menu")


def _stray_answer(ctx: Context, command: Command) -> Reply:
    return Reply("answer_no_question", handled=False, command="answer")


def _answer(ctx: Context, command: Command) -> Reply:
    """Digits or free text answering the open question."""
    topic, step = ctx.sender.topic, ctx.sender.step
    if topic == "report" and step == "studied":
        if command.answer in ("1", "2"):
            return _record(ctx, command.answer == "1", None, None, final=False)
        again = parse("HB " + command.normalized)
        if again.studied is not None:
            return _record(ctx, again.studied, again.city, again.employer, final=True)
        return Reply("answer_invalid", handled=False, command="report")
    if topic == "report" and step in ("same", "place"):
        studied = ctx.sender.data.get("studied")
        if step == "same" and (command.answer == "1" or _word(command) in SAME_WORDS):
            return _record(ctx, studied, None, None, final=True, same=True)
        if step == "same" and _changed(command):
            ctx.open_question("report", "place", studied=studied)
            return Reply("report_ask_place", command="report")
        place = parse("DT " + command.normalized)
        if command.answer is None and (place.city or place.employer):
            return _record(ctx, studied, place.city, place.employer, final=True)
        question = "report_same_invalid" if step == "same" else "report_ask_place"
        return Reply(question, handled=False, command="report")
    if topic == "help" and step == "details":
        reply = _help_details(ctx, command)
        if reply is not None:
            return reply
        return Reply("menu", handled=False, command=command.kind.value)
    keyword = TOPIC_KEYWORD.get(topic or "")
    if keyword is not None:
        # The open question is reused or closed by the command's own handler.
        return handle_sms(ctx, parse(f"{keyword} {command.normalized}"))
    ctx.close()
    return Reply("menu", handled=False, command="answer")


def _changed(command: Command) -> bool:
    """Whether a reply to "still in ... ?" says no, it changed (2, 否, 变了 ...)."""
    if command.answer is not None:
        return command.answer == "2"
    return _word(command) in CHANGED_WORDS


def _word(command: Command) -> str:
    """A one-word reply as compared with the word lists: no end marks, upper case."""
    return command.normalized.strip(_END_MARKS).upper()


_HANDLERS = {
    Kind.REPORT: _report,
    Kind.STATUS: _status,
    Kind.PHONE: _phone,
    Kind.HELP: _help,
    Kind.LESSONS: _lessons,
    Kind.OPT_OUT: _opt_out,
    Kind.OPT_IN: _opt_in,
    Kind.MENU: _menu,
    Kind.ANSWER: _stray_answer,
}
