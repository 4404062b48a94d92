"""Surveys (三项调查, 五个摸清): questions asked by SMS and keypad, answers into the member's card.

A survey is an ordered list of questions sent to a target as a notice is. Each question is a
choice (up to 9 labelled options, answered by one digit), a number, or a short text (a
recording on a call); it may fill a field of the member's card (`CARD_FIELDS`), leaving a
dated line of history from the survey. Each member asked has a `SurveyRecipient` row that
keeps where they are in the survey (`position`, the next question's index), so either
channel resumes where the other stopped. Answers are `SurveyAnswer` rows, one per member and
question.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, enum_type, utcnow
from models.report import Channel
from models.targets import BilingualError

MAX_CHOICES = 9  # one keypad digit, 1-9
MAX_QUESTIONS = 30
MAX_QUESTION_TEXT = 200
MAX_CHOICE_LABEL = 40
MAX_TITLE = 120


class QuestionKind(enum.StrEnum):
    """How a question is answered."""

    CHOICE = "choice"  # one digit, 1 to the number of options
    NUMBER = "number"  # a whole number (digits by SMS, digits then # on a call)
    TEXT = "text"  # a short text by SMS, a recording on a call


class SurveyStatus(enum.StrEnum):
    """Where a survey is in its life."""

    DRAFT = "draft"  # written, not sent
    SENDING = "sending"  # recipients being resolved and the first questions queued
    OPEN = "open"  # asked; answers come in
    CLOSED = "closed"  # no more questions asked; late answers are still kept


@dataclass(frozen=True, slots=True)
class CardField:
    """A field of the member's card a question may fill: its labels and the kinds that fit."""

    zh: str
    en: str
    kinds: frozenset[QuestionKind]


_WORDS = frozenset({QuestionKind.CHOICE, QuestionKind.TEXT})

# The card fields a survey may fill: Member's columns of the same name, except `departure_year`,
# which sets `departure_date` to 1 January of that year (unless it already falls in it). Each
# is also a `ChangeField`, so a filled field leaves its line of history. The five things to
# know (五个摸清): how to reach them and since when; why they left, where to, the employer,
# occupation and region; how they work and live, and their education; whether the workplace
# has a Party organisation; and the part they play in it.
CARD_FIELDS: dict[str, CardField] = {
    "other_phone": CardField("其他联系电话", "Other phone", frozenset({QuestionKind.TEXT})),
    "departure_year": CardField("外出年份", "Year left home", frozenset({QuestionKind.NUMBER})),
    "reason": CardField("外出原因", "Reason for leaving", _WORDS),
    "city": CardField("所在城市", "City", frozenset({QuestionKind.TEXT})),
    "province": CardField("所在省份", "Province", _WORDS),
    "employer": CardField("工作单位", "Employer", frozenset({QuestionKind.TEXT})),
    "occupation": CardField("职业", "Occupation", _WORDS),
    "industry": CardField("行业", "Industry", _WORDS),
    "work_form": CardField("就业形式", "How they work", _WORDS),
    "living": CardField("居住情况", "Where they live", _WORDS),
    "education": CardField("文化程度", "Education", _WORDS),
    "workplace_party_org": CardField(
        "单位是否有党组织", "Party organisation at work", frozenset({QuestionKind.CHOICE})
    ),
    "party_role": CardField("发挥作用情况", "Part they play", _WORDS),
}


class SurveyError(BilingualError):
    """A survey's definition or a use of it is refused; the message says why, in both languages."""


class Survey(Base):
    """A survey written by a branch or township and sent to a target of its members."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    title_en: Mapped[str | None] = mapped_column(String(MAX_TITLE))
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)  # models.targets.Target
    # Ask by SMS, by a call, or both (a call for those whose texts go unanswered).
    by_sms: Mapped[bool] = mapped_column(Boolean, default=True)
    by_call: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[SurveyStatus] = mapped_column(
        enum_type(SurveyStatus, 16), default=SurveyStatus.DRAFT
    )
    remind_after_days: Mapped[int] = mapped_column(Integer, default=3)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    questions: Mapped[list[SurveyQuestion]] = relationship(
        order_by="SurveyQuestion.position", back_populates="survey"
    )


class SurveyQuestion(Base):
    """One question of a survey, at its place in the order."""

    __tablename__ = "survey_questions"
    __table_args__ = (UniqueConstraint("survey_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    position: Mapped[int] = mapped_column(Integer)  # 0, 1, 2, ...
    kind: Mapped[QuestionKind] = mapped_column(enum_type(QuestionKind, 8))
    text: Mapped[str] = mapped_column(String(MAX_QUESTION_TEXT))
    text_en: Mapped[str | None] = mapped_column(String(MAX_QUESTION_TEXT))
    # A choice's options, in order: [{"zh": "...", "en": "..."}]; digit 1 is the first.
    choices: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    field: Mapped[str | None] = mapped_column(String(32))  # a key of CARD_FIELDS

    survey: Mapped[Survey] = relationship(back_populates="questions")


class SurveyRecipient(Base):
    """A member a survey was sent to, and how far they are in it."""

    __tablename__ = "survey_recipients"
    __table_args__ = (
        UniqueConstraint("survey_id", "member_id"),
        Index("ix_survey_recipients_member", "member_id", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # when it was sent
    position: Mapped[int] = mapped_column(Integer, default=0)  # the next question to ask
    asked_at: Mapped[datetime | None]  # when the question at `position` was last asked
    asked_count: Mapped[int] = mapped_column(Integer, default=0)  # times it was asked (re-ask)
    started_at: Mapped[datetime | None]  # the first answer
    completed_at: Mapped[datetime | None]  # the last question answered or passed
    reminded_at: Mapped[datetime | None]


class SurveyAnswer(Base):
    """A member's answer to one question: a choice's digit, a number, a text or a recording."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("question_id", "member_id"),
        Index("ix_survey_answers_survey_question", "survey_id", "question_id"),
        # The results page counts a survey's answers by question, branch and option from this
        # index alone (no table row read): 10 questions to 100,000 members in one scan.
        Index(
            "ix_survey_answers_results", "survey_id", "question_id", "branch_id", "choice", "number"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # for results by branch
    choice: Mapped[int | None] = mapped_column(Integer)  # 1..9
    number: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)  # kept whole, however long
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, 8))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True)
class QuestionDraft:
    """A question as written, checked: what `add_survey` stores as a `SurveyQuestion`."""

    kind: QuestionKind
    text: str
    text_en: str | None = None
    choices: tuple[tuple[str, str | None], ...] = ()  # (zh, en) per option, digit 1 first
    field: str | None = None


@dataclass(frozen=True, slots=True)
class SurveyDraft:
    """A survey as written (a file, a form), checked before anything is stored or sent."""

    title: str
    questions: tuple[QuestionDraft, ...]
    title_en: str | None = None


def _text(value: Any, where: str, limit: int, *, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise SurveyError(f"{where}缺少文字", f"{where}: the text is missing")
        return None
    if not isinstance(value, str):
        raise SurveyError(f"{where}应是文字", f"{where}: must be text")
    value = " ".join(value.split())
    if len(value) > limit:
        raise SurveyError(f"{where}超过{limit}个字", f"{where}: longer than {limit} characters")
    return value


def _choice(value: Any, where: str) -> tuple[str, str | None]:
    if isinstance(value, dict):
        zh = _text(value.get("zh") or value.get("text"), where, MAX_CHOICE_LABEL)
        en = _text(value.get("en"), where, MAX_CHOICE_LABEL, required=False)
    else:
        zh, en = _text(value, where, MAX_CHOICE_LABEL), None
    assert zh is not None
    return zh, en


def _question(data: Any, number: int) -> QuestionDraft:
    where_zh, where_en = f"第{number}题", f"question {number}"
    where = f"{where_zh} ({where_en})"
    if not isinstance(data, dict):
        raise SurveyError(f"{where_zh}格式不对", f"{where_en}: must be an object")
    try:
        kind = QuestionKind(str(data.get("kind", "")).strip().lower())
    except ValueError:
        raise SurveyError(
            f"{where_zh}的类型应是 choice、number 或 text",
            f"{where_en}: kind must be choice, number or text",
        ) from None
    text = _text(data.get("text"), where, MAX_QUESTION_TEXT)
    assert text is not None
    text_en = _text(data.get("text_en"), where, MAX_QUESTION_TEXT, required=False)
    raw_choices = data.get("choices")
    choices: tuple[tuple[str, str | None], ...] = ()
    if kind is QuestionKind.CHOICE:
        if not isinstance(raw_choices, list) or not raw_choices:
            raise SurveyError(f"{where_zh}没有选项", f"{where_en}: a choice needs options")
        if len(raw_choices) > MAX_CHOICES:
            raise SurveyError(
                f"{where_zh}的选项超过{MAX_CHOICES}个",
                f"{where_en}: more than {MAX_CHOICES} options",
            )
        choices = tuple(
            _choice(value, f"{where} 选项{i}") for i, value in enumerate(raw_choices, 1)
        )
    elif raw_choices:
        raise SurveyError(
            f"{where_zh}不是选择题,不能有选项", f"{where_en}: only a choice has options"
        )
    field = data.get("field") or None
    if field is not None:
        card = CARD_FIELDS.get(str(field))
        if card is None:
            raise SurveyError(
                f"{where_zh}:党员卡片没有字段“{field}”",
                f"{where_en}: the member's card has no field {field!r}",
            )
        if kind not in card.kinds:
            raise SurveyError(
                f"{where_zh}:{card.zh}不能由{kind.value}题填写",
                f"{where_en}: {card.en} cannot be filled by a {kind.value} question",
            )
    return QuestionDraft(kind, text, text_en, choices, field)


def read_survey(data: Any) -> SurveyDraft:
    """Check a survey as written (`title`, `questions`: `text`, `kind`, `choices`, `field`).

    SurveyError says what is wrong, in both languages, before anything is stored or sent: an
    empty survey, a choice with no options or more than nine, a field the card does not have.
    """
    if not isinstance(data, dict):
        raise SurveyError("问卷应是一个对象(含 title 和 questions)", "a survey must be an object")
    title = _text(data.get("title"), "标题 (title)", MAX_TITLE)
    assert title is not None
    title_en = _text(data.get("title_en"), "英文标题 (title_en)", MAX_TITLE, required=False)
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise SurveyError("问卷没有题目", "the survey has no questions")
    if len(questions) > MAX_QUESTIONS:
        raise SurveyError(f"题目超过{MAX_QUESTIONS}道", f"more than {MAX_QUESTIONS} questions")
    return SurveyDraft(title, tuple(_question(q, i) for i, q in enumerate(questions, 1)), title_en)
