"""Surveys by SMS: a question as one text, a reply read as its answer, and who is asked when.

One question a text, each in one segment with its options (`question_text`; a survey whose
question would not fit is refused when it is written: `check_fits`). A member is asked the
question at their `position` by the periodic tick (`ask_due`, from workers.reminders): inside
their contact window, never while a monthly report (or another short question) is open, only
once the previous question is answered, and only while the number's daily cap of the
mainland providers leaves room, so a long survey spreads over days. A reply is read by
`read_answer` (digits, full-width too; a text kept whole) in the SMS step
(sms_flows.conversation) and stored by `answer_by_sms` through models.survey_ops.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.broadcast import Windows
from models.caps import caps_for, provider_day
from models.member import Member
from models.message import Conversation, Direction, Message, MessageStatus, open_conversation
from models.org import Organization, subtree_ids
from models.outbox import queue_sms
from models.question import Question, Step, SurveyAsked, Topic, read_question
from models.report import Channel
from models.segments import count_segments
from models.sms_templates import TemplateError, TemplateRules, prepare
from models.survey import (
    QuestionDraft,
    QuestionKind,
    Survey,
    SurveyDraft,
    SurveyError,
    SurveyQuestion,
    SurveyRecipient,
    SurveyStatus,
)
from models.survey_ops import current_question, pass_question, record_answer
from models.templates import render

ASK_KEY = "survey_question"
REMIND_KEY = "survey_reminder"
MAX_NUMBER = 10**9  # a number answer has at most nine digits
# Units a member may write after a number (2015年, 35岁); anything else is not a number.
_NUMBER_RE = re.compile(r"([0-9]{1,9})\s*(?:年|岁|人|个|元|块)?")
_ENDS = " .,!?;:。,!?;:、"
# Open questions that a survey's question never replaces: a monthly report, and the short
# questions a member is in the middle of (a status, a phone change, a help category, a deed).
# An open help request's details (help / details, kept for days) does not hold a survey back.
_BLOCKING = {
    (Topic.REPORT, Step.STUDIED),
    (Topic.REPORT, Step.SAME),
    (Topic.REPORT, Step.PLACE),
    (Topic.STATUS, Step.PLACE),
    (Topic.PHONE, Step.NUMBER),
    (Topic.HELP, Step.CATEGORY),
    (Topic.DEED, Step.DETAILS),
}


# --- The text of a question -----------------------------------------------------------------


def compose(
    kind: QuestionKind,
    text: str,
    text_en: str | None,
    choices: Sequence[tuple[str, str | None]],
    number: int,
    total: int,
    language: str | None,
) -> str:
    """A question as one text: its number, the question, its options and how to answer."""
    if language == "en":
        head = f"({number}/{total}) {text_en or text}"
        if kind is QuestionKind.CHOICE:
            options = " ".join(f"{i} {en or zh}" for i, (zh, en) in enumerate(choices, 1))
            return f"{head} {options}. Reply with a digit"
        stop = " " if head.endswith(("?", ".", "!")) else ". "
        if kind is QuestionKind.NUMBER:
            return f"{head}{stop}Reply with a number"
        return f"{head}{stop}Reply in words"
    head = f"({number}/{total}){text}"
    if kind is QuestionKind.CHOICE:
        options = " ".join(f"{i}{zh}" for i, (zh, _) in enumerate(choices, 1))
        return f"{head} {options} 回复数字"
    if kind is QuestionKind.NUMBER:
        return f"{head} 回复数字"
    return f"{head} 回复文字"


def question_text(question: SurveyQuestion, total: int, language: str | None) -> str:
    """A stored question as the member reads it (`compose`)."""
    choices = [(c.get("zh", ""), c.get("en")) for c in question.choices or []]
    return compose(
        question.kind,
        question.text,
        question.text_en,
        choices,
        question.position + 1,
        total,
        language,
    )


def check_fits(draft: SurveyDraft, rules: TemplateRules | None = None) -> None:
    """Refuse (SurveyError, in both languages) a survey one of whose questions would not be
    one SMS segment with its options, in Chinese and (if written) in English, the reminder's
    words included; with a mainland provider's `rules`, also as that provider counts it."""
    total = len(draft.questions)
    for number, question in enumerate(draft.questions, 1):
        _check_question(question, number, total, rules)


def _check_question(
    question: QuestionDraft, number: int, total: int, rules: TemplateRules | None
) -> None:
    languages = ["zh_CN", "en"] if question.text_en else ["zh_CN"]
    for language in languages:
        text = compose(
            question.kind,
            question.text,
            question.text_en,
            question.choices,
            number,
            total,
            language,
        )
        info = count_segments(render(REMIND_KEY, language, question=text))
        if info.segments > 1:
            which_zh, which_en = ("中文", "Chinese") if language == "zh_CN" else ("英文", "English")
            raise SurveyError(
                f"第{number}题的{which_zh}短信连同选项超过一条({info.characters}字),请缩短",
                f"question {number}: its {which_en} SMS with the options is over one segment "
                f"({info.characters} characters); shorten it",
            )
        if rules is None or language != "zh_CN":
            continue
        try:
            prepared = prepare(rules, REMIND_KEY, {"question": text})
        except TemplateError as exc:
            raise SurveyError(
                f"第{number}题不能按短信模板发送({exc.code}),请缩短或加标点",
                f"question {number} cannot be sent as a template SMS ({exc.code}); "
                "shorten it or add punctuation",
            ) from None
        if prepared.segments.segments > 1:
            raise SurveyError(
                f"第{number}题连同签名超过一条短信({prepared.segments.characters}字),请缩短",
                f"question {number} with the signature is over one SMS "
                f"({prepared.segments.characters} characters); shorten it",
            )


# --- Reading an answer ----------------------------------------------------------------------


def read_answer(kind: QuestionKind | str, choices: int, body: str | None) -> int | str | None:
    """A reply read as the answer to a question of this kind: the option's digit (1 to
    `choices`), a whole number, or the text kept whole; None when it is not an answer."""
    text = " ".join(unicodedata.normalize("NFKC", body or "").split())
    kind = QuestionKind(kind)
    if kind is QuestionKind.TEXT:
        return text if text.strip(_ENDS) else None
    core = text.strip(_ENDS)
    if kind is QuestionKind.CHOICE:
        if core.isascii() and core.isdigit() and 1 <= int(core) <= choices:
            return int(core)
        return None
    found = _NUMBER_RE.fullmatch(core)
    return int(found.group(1)) if found is not None else None


def parse_answer(question: SurveyQuestion, body: str) -> int | str | None:
    """A reply read as the answer to a stored question (`read_answer`)."""
    return read_answer(question.kind, len(question.choices or []), body)


def asked(question: SurveyQuestion, total: int, *, again: bool = False) -> Question:
    """The SMS conversation a question opens: a reply without a keyword answers it."""
    data = SurveyAsked(
        survey_id=question.survey_id,
        question_id=question.id,
        kind=question.kind.value,
        choices=len(question.choices or []),
        last=question.position + 1 >= total,
        again=again,
    )
    return Question(Topic.SURVEY, Step.ANSWER, data)


# --- Answers by SMS -------------------------------------------------------------------------


def _recipient_at(
    session: Session, member_id: int, survey_id: int, question_id: int
) -> tuple[SurveyRecipient, SurveyQuestion] | None:
    """The member's row of the survey and the question, if that question is the one now due."""
    recipient = session.scalar(
        select(SurveyRecipient).where(
            SurveyRecipient.survey_id == survey_id, SurveyRecipient.member_id == member_id
        )
    )
    if recipient is None or recipient.completed_at is not None:
        return None
    question = current_question(session, recipient)
    if question is None or question.id != question_id:
        return None  # answered meanwhile (by a call), or the survey changed
    return recipient, question


def answer_by_sms(
    session: Session,
    member_id: int,
    survey_id: int,
    question_id: int,
    value: int | str,
    now: datetime,
) -> bool:
    """Store a member's SMS answer to the question due (into the card where it fills one);
    False when that question is no longer the one due (the answer is then not stored)."""
    found = _recipient_at(session, member_id, survey_id, question_id)
    if found is None:
        return False
    recipient, question = found
    values: dict[str, Any] = {}
    if question.kind is QuestionKind.CHOICE:
        values["choice"] = int(value)
    elif question.kind is QuestionKind.NUMBER:
        values["number"] = int(value)
    else:
        values["text"] = str(value)
    record_answer(session, recipient, question, channel=Channel.SMS, now=now, **values)
    return True


def pass_by_sms(
    session: Session, member_id: int, survey_id: int, question_id: int, now: datetime
) -> bool:
    """Move past the question due without an answer (asked again once, still no answer)."""
    found = _recipient_at(session, member_id, survey_id, question_id)
    if found is None:
        return False
    pass_question(session, found[0], now)
    return True


def ask_again(
    session: Session, member_id: int, survey_id: int, question_id: int, language: str | None
) -> tuple[str, Question] | None:
    """The question due, to ask once more after an answer out of range: its text and the
    conversation to open (marked as asked again); None when it is no longer due."""
    found = _recipient_at(session, member_id, survey_id, question_id)
    if found is None:
        return None
    recipient, question = found
    recipient.asked_count += 1
    total = _total(session, survey_id)
    return question_text(question, total, language), asked(question, total, again=True)


def _total(session: Session, survey_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SurveyQuestion)
            .where(SurveyQuestion.survey_id == survey_id)
        )
        or 0
    )


# --- Asking: the periodic step --------------------------------------------------------------


@dataclass
class Asked:
    """What one run of `ask_due` did: the outbox rows to hand on, and counts by kind."""

    message_ids: list[int]
    questions: int = 0
    reminders: int = 0


def ask_due(
    session: Session, township: Organization, now: datetime, *, provider: str, ttl_hours: int
) -> Asked:
    """Ask each member of the township with an unfinished survey their next question, if now
    they may be: the survey open and by SMS; the member active, not opted out, with a working
    number, inside their contact window, with no report (or other short question) open, the
    question before answered, and room left under their number's daily cap today. A member
    who has not finished `remind_after_days` after the survey was sent is reminded once (the
    question due again, with a reminder line). Only a member's oldest open survey is asked."""
    done = Asked([])
    scope = subtree_ids(session, township.id)
    rows = session.execute(
        select(SurveyRecipient, Member)
        .join(Survey, Survey.id == SurveyRecipient.survey_id)
        .join(Member, Member.id == SurveyRecipient.member_id)
        .where(
            Survey.status == SurveyStatus.OPEN,
            Survey.by_sms.is_(True),
            SurveyRecipient.completed_at.is_(None),
            Member.branch_id.in_(sorted(scope)),
            Member.active.is_(True),
            Member.opted_out_at.is_(None),
            Member.phone_invalid_at.is_(None),
        )
        .order_by(SurveyRecipient.member_id, SurveyRecipient.survey_id)
    ).all()
    if not rows:
        return done
    firsts: dict[int, tuple[SurveyRecipient, Member]] = {}
    for recipient, member in rows:
        firsts.setdefault(member.id, (recipient, member))
    open_now = _open_questions(session, list(firsts), now)
    caps = caps_for(provider, township.settings)
    sent_today = (
        _texts_today(session, [m.phone for _, m in firsts.values()], now) if caps.daily else {}
    )
    windows = Windows(session)
    surveys: dict[int, tuple[Survey, list[SurveyQuestion]]] = {}
    for recipient, member in firsts.values():
        if recipient.survey_id not in surveys:
            survey = session.get(Survey, recipient.survey_id)
            assert survey is not None
            surveys[survey.id] = (survey, list(survey.questions))
        survey, questions = surveys[recipient.survey_id]
        if recipient.position >= len(questions):
            continue
        question = questions[recipient.position]
        conversation = open_now.get(member.id)
        waiting = (
            conversation is not None
            and isinstance(conversation[0].data, SurveyAsked)
            and conversation[0].data.question_id == question.id
        )
        remind = False
        if waiting:
            due_at = (survey.sent_at or now) + timedelta(days=survey.remind_after_days)
            remind = (
                recipient.reminded_at is None and recipient.asked_at is not None and due_at <= now
            )
            if not remind:
                continue
        elif conversation is not None and conversation[1] > now:
            held = conversation[0]
            if (held.topic, held.step) in _BLOCKING:
                continue
        if windows.not_before(member.branch_id, member.window_start, member.window_end, now):
            continue
        if caps.daily and sent_today.get(member.phone, 0) >= caps.daily:
            continue
        message = queue_sms(
            session,
            template_key=REMIND_KEY if remind else ASK_KEY,
            params={"question": question_text(question, len(questions), member.language.value)},
            member=member,
            at=now,
        )
        if message.status is not MessageStatus.QUEUED:
            continue  # refused by the template rules: kept as failed, asked again next tick
        open_conversation(
            session, member.id, asked(question, len(questions)), now=now, ttl_hours=ttl_hours
        )
        recipient.asked_at = now
        recipient.asked_count += 1
        if remind:
            recipient.reminded_at = now
            done.reminders += 1
        else:
            done.questions += 1
        sent_today[member.phone] = sent_today.get(member.phone, 0) + 1
        done.message_ids.append(message.id)
    session.flush()
    return done


def _open_questions(
    session: Session, member_ids: list[int], now: datetime
) -> dict[int, tuple[Question, datetime]]:
    """Each member's stored SMS question (expired ones too) and when it expires."""
    found: dict[int, tuple[Question, datetime]] = {}
    for first in range(0, len(member_ids), 500):
        rows = session.execute(
            select(
                Conversation.member_id,
                Conversation.topic,
                Conversation.step,
                Conversation.data,
                Conversation.expires_at,
            ).where(Conversation.member_id.in_(member_ids[first : first + 500]))
        ).all()
        for member_id, topic, step, data, expires_at in rows:
            question = read_question(topic, step, data)
            if question is not None:
                if expires_at.tzinfo is None:
                    expires_at = expires_at.replace(tzinfo=now.tzinfo)
                found[member_id] = (question, expires_at)
    return found


def _texts_today(session: Session, phones: list[str], now: datetime) -> dict[str, int]:
    """Texts each number was sent or has waiting today (the provider's day), which count
    towards its daily cap: every outbound row not skipped or failed."""
    _, tomorrow = provider_day(now)
    start = tomorrow - timedelta(days=1)
    counts: dict[str, int] = {}
    for first in range(0, len(phones), 500):
        rows = session.execute(
            select(Message.phone, func.count())
            .where(
                Message.phone.in_(phones[first : first + 500]),
                Message.direction == Direction.OUT,
                Message.status.not_in([MessageStatus.SKIPPED, MessageStatus.FAILED]),
                Message.created_at >= start,
            )
            .group_by(Message.phone)
        ).all()
        counts.update((phone, int(count)) for phone, count in rows)
    return counts


__all__ = [
    "ASK_KEY",
    "REMIND_KEY",
    "Asked",
    "answer_by_sms",
    "ask_again",
    "ask_due",
    "asked",
    "check_fits",
    "compose",
    "parse_answer",
    "pass_by_sms",
    "question_text",
    "read_answer",
]
