"""Carrying out what an SMS step decided, in the webhook's transaction.

`handle_sms` runs the pure step (sms_flows.conversation) with read-only `StoredFacts`, then
`carry_out` does its effects in order through the domain operations of `models`, the same
ones the voice flows and the admin call. The common effects write through the raw
connection (models.sql); the rare ones (a phone change, a call back) use ORM objects from a
session on the same connection and transaction. Nothing here commits: the webhook does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from models import CallbackReason, ChangeSource, Channel, Lesson, Member
from models.broadcast import NoticeSent, notice_awaiting_reply
from models.deed import deed_ref, record_deed
from models.help import add_help_details, ref_of, save_help_request, takes_details
from models.inbound import Sender
from models.lesson import LessonPlayback
from models.member import move_member, phone_taken, set_opted_out
from models.message import forget_question, open_question
from models.phone_change import (
    PendingChange,
    confirm_phone_change,
    pending_phone_change,
    start_phone_change,
)
from models.question import HelpAsked, Question, Step, Topic
from models.report import save_report
from models.sql import Raw
from models.survey_sms import answer_by_sms, ask_again, pass_by_sms
from models.voice import find_lesson, may_call_back, request_callback
from sms_flows.conversation import (
    AddHelpDetails,
    AnswerSurvey,
    AskQuestion,
    AskSurveyAgain,
    CloseQuestion,
    ConfirmPhoneChange,
    KeepWithNotice,
    Learned,
    MoveMember,
    OpenHelpRequest,
    OptIn,
    OptOut,
    Outcome,
    PassSurvey,
    QueueCallback,
    Reply,
    SaveDeed,
    SaveReport,
    StartPhoneChange,
    step,
    stranger_step,
)
from sms_flows.keywords import Command

CALLBACK_REASON = CallbackReason.LESSON  # the reason of a call back asked for by `XX n`


@dataclass
class Context:
    """Where a text's effects are carried out: the connection and transaction, the sender
    (None: a number no member has), the moment, and the settings they need."""

    raw: Raw
    connection: Connection
    phone: str
    sender: Sender | None
    now: datetime
    ttl_hours: int
    region: str
    callbacks_per_day: int
    lesson_playback: LessonPlayback = LessonPlayback.ANY
    _session: Session | None = field(default=None, repr=False)

    @property
    def session(self) -> Session:
        """An ORM session in this transaction, made when first needed."""
        if self._session is None:
            self._session = Session(bind=self.connection, autoflush=True)
        return self._session

    def member(self) -> Member:
        """The sender as an ORM object (read in this transaction)."""
        assert self.sender is not None
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


@dataclass(frozen=True)
class StoredFacts:
    """The Facts a step reads, looked up in this transaction when the step asks (only reads)."""

    _ctx: Context

    @property
    def region(self) -> str:
        """The region of phone numbers written without a country code."""
        return self._ctx.region

    def _sender(self) -> Sender:
        assert self._ctx.sender is not None
        return self._ctx.sender

    def notice(self) -> NoticeSent | None:
        """The notice the member's text now may answer."""
        return notice_awaiting_reply(self._ctx.raw, self._sender().id, self._ctx.now)

    def phone_taken(self, phone: str) -> bool:
        """Whether a member already has this E.164 number."""
        return phone_taken(self._ctx.raw, phone)

    def takes_details(self, request_id: int) -> bool:
        """Whether the member's help request still takes details."""
        return takes_details(self._ctx.raw, request_id, self._sender().id)

    def lesson_exists(self, number: int) -> bool:
        """Whether there is a lesson with this number."""
        return find_lesson(self._ctx.session, number) is not None

    def lesson_playable(self, number: int) -> bool:
        """Whether the voice provider's calls can play this lesson."""
        lesson = find_lesson(self._ctx.session, number)
        return lesson is not None and lesson.unplayable(self._ctx.lesson_playback) is None

    def newest_lessons(self, limit: int) -> Sequence[tuple[int, str]]:
        """(number, title) of the newest lessons, newest first."""
        rows = self._ctx.session.execute(
            select(Lesson.id, Lesson.title).order_by(Lesson.id.desc()).limit(limit)
        )
        return [(number, title) for number, title in rows]

    def may_call_back(self, lesson_id: int) -> bool:
        """Whether a call back with this lesson may be queued now."""
        ctx = self._ctx
        return may_call_back(
            ctx.session,
            ctx.member(),
            lesson_id,
            CALLBACK_REASON,
            ctx.now,
            per_day=ctx.callbacks_per_day,
        )

    def pending_phone_change(self, phone: str) -> PendingChange | None:
        """The newest unconfirmed change of a member's phone to this number."""
        return pending_phone_change(self._ctx.session, phone)


@dataclass
class Done:
    """A text carried out: the reply (filled in), what it was understood as, whose it is, and
    the work for the workers once committed."""

    reply: Reply
    command: str
    handled: bool
    member_id: int | None
    language: str | None
    broadcast_id: int | None = None  # the notice this text answers
    outbox_ids: list[int] = field(default_factory=list)
    callback_ids: list[int] = field(default_factory=list)


def handle_sms(ctx: Context, command: Command) -> Done:
    """A text: the step decides what it means, then its effects are carried out here."""
    facts = StoredFacts(ctx)
    if ctx.sender is None:
        outcome = stranger_step(ctx.phone, command, ctx.now, facts)
    else:
        outcome = step(ctx.sender, command, ctx.now, facts)
    return carry_out(ctx, outcome)


def carry_out(ctx: Context, outcome: Outcome) -> Done:
    """Carry out a step's effects in order, and fill its reply with what they told."""
    sender = ctx.sender
    done = Done(
        outcome.reply,
        outcome.command,
        outcome.handled,
        member_id=sender.id if sender is not None else None,
        language=sender.language if sender is not None else None,
    )
    if outcome.member is not None:
        done.member_id, done.language = outcome.member.id, outcome.member.language
    learned: dict[Learned, Any] = {}
    reply = outcome.reply
    place = (sender.city, sender.employer) if sender is not None else (None, None)
    now = ctx.now
    for effect in outcome.effects:
        if isinstance(effect, ConfirmPhoneChange):
            confirm_phone_change(ctx.session, effect.change_id, now)
            continue
        assert sender is not None  # every other effect is about the member who texted
        if isinstance(effect, SaveReport):
            saved = save_report(
                ctx.raw,
                sender.id,
                current=place,
                period=effect.period,
                studied=effect.studied,
                channel=Channel.SMS,
                city=effect.city,
                employer=effect.employer,
                same_city=effect.same,
                same_employer=effect.same,
                at=now,
            )
            place = (saved.city, saved.employer)
            learned[Learned.RECEIPT] = saved.receipt
        elif isinstance(effect, MoveMember):
            place = move_member(
                ctx.raw,
                sender.id,
                current=place,
                city=effect.city,
                employer=effect.employer,
                source=ChangeSource.SMS,
                at=now,
            )
        elif isinstance(effect, AskQuestion):
            _ask(ctx, sender, effect.question)
        elif isinstance(effect, CloseQuestion):
            forget_question(ctx.raw, sender.id)
        elif isinstance(effect, OpenHelpRequest):
            request_id = save_help_request(
                ctx.raw,
                sender.id,
                category=effect.category,
                text=effect.text,
                channel=Channel.SMS,
                at=now,
            )
            _ask(ctx, sender, Question(Topic.HELP, Step.DETAILS, HelpAsked(request_id)))
            learned[Learned.HELP_REF] = ref_of(request_id)
        elif isinstance(effect, AddHelpDetails):
            add_help_details(ctx.raw, effect.request_id, sender.id, effect.text)
        elif isinstance(effect, OptOut):
            set_opted_out(ctx.raw, sender.id, now)
        elif isinstance(effect, OptIn):
            set_opted_out(ctx.raw, sender.id, None)
        elif isinstance(effect, StartPhoneChange):
            message = start_phone_change(ctx.session, sender.id, effect.new_phone, now)
            done.outbox_ids.append(message.id)
        elif isinstance(effect, QueueCallback):
            callback = request_callback(
                ctx.session,
                ctx.member(),
                lesson_id=effect.lesson_id,
                reason=CALLBACK_REASON,
                now=now,
                per_day=ctx.callbacks_per_day,
            )
            if callback is not None:
                done.callback_ids.append(callback.id)
        elif isinstance(effect, SaveDeed):
            deed = record_deed(
                ctx.session,
                member=ctx.member(),
                item=effect.item,
                text=effect.text,
                channel=Channel.SMS,
                at=now,
            )
            learned[Learned.DEED_REF] = deed_ref(deed.id)
        elif isinstance(effect, KeepWithNotice):
            done.broadcast_id = effect.broadcast_id
        elif isinstance(effect, AnswerSurvey):
            answer_by_sms(
                ctx.session, sender.id, effect.survey_id, effect.question_id, effect.value, now
            )
        elif isinstance(effect, PassSurvey):
            pass_by_sms(ctx.session, sender.id, effect.survey_id, effect.question_id, now)
        elif isinstance(effect, AskSurveyAgain):
            again = ask_again(
                ctx.session, sender.id, effect.survey_id, effect.question_id, sender.language
            )
            if again is None:  # no longer due (answered by a call meanwhile): nothing to ask
                forget_question(ctx.raw, sender.id)
                learned[Learned.SURVEY_QUESTION] = ""
                reply = Reply("answer_no_question")
            else:
                learned[Learned.SURVEY_QUESTION] = again[0]
                ctx.flush()
                _ask(ctx, sender, again[1])
        else:  # mypy checks that every kind of effect has its branch above
            assert_never(effect)
    learned[Learned.CITY], learned[Learned.EMPLOYER] = place[0] or "", place[1] or ""
    ctx.flush()
    done.reply = reply.filled(learned)
    return done


def _ask(ctx: Context, sender: Sender, question: Question) -> None:
    open_question(ctx.raw, sender.id, question, now=ctx.now, ttl_hours=ctx.ttl_hours)
