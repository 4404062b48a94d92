"""What is done with a survey: store it, send it, answer it, and fill the member's card.

The channels (SMS in sms_flows, the keypad in ivr_flows) ask and parse; these functions are the
one place an answer is kept and a survey moves on, so both channels resume where either
stopped.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from models.member import (
    ChangeField,
    ChangeSource,
    Member,
    MemberChange,
    change_status,
    record_detail,
)
from models.org import Organization
from models.phones import try_normalize
from models.report import Channel
from models.survey import (
    CARD_FIELDS,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyDraft,
    SurveyError,
    SurveyQuestion,
    SurveyRecipient,
    SurveyStatus,
)
from models.targets import Target, target_members
from models.user import User

# Answers that say there is nothing to put on the card ("no other phone"): kept as the answer,
# the card field left as it is.
NOTHING = frozenset({"无", "没有", "暂无", "不", "否", "none", "no", "n/a", "-"})


def _card_text(field: str, value: str) -> str | None:
    """An answer's text as the card field takes it: None when it says "nothing" or, for a
    phone, is not a number; otherwise cut to the column's length (the answer stays whole)."""
    if re.sub(r"[\s。.!!]+$", "", value.strip().lower()) in NOTHING:
        return None
    if field == "other_phone":
        return try_normalize(value)
    length = getattr(Member.__table__.c[field].type, "length", None)
    return value[:length] if length else value


def add_survey(
    session: Session,
    org: Organization,
    author: User | None,
    draft: SurveyDraft,
    *,
    target: Target,
    by_sms: bool = True,
    by_call: bool = False,
    remind_after_days: int = 3,
) -> Survey:
    """Store a checked survey (a draft: nothing is asked until `send_survey`)."""
    if not (by_sms or by_call):
        raise SurveyError("请至少选择短信或电话一种方式", "choose SMS, a call, or both")
    if not 1 <= remind_after_days <= 60:
        raise SurveyError("提醒天数应在1到60之间", "remind after 1 to 60 days")
    survey = Survey(
        org_id=org.id,
        author_id=author.id if author else None,
        title=draft.title,
        title_en=draft.title_en,
        target=target.as_dict(),
        by_sms=by_sms,
        by_call=by_call,
        remind_after_days=remind_after_days,
        status=SurveyStatus.DRAFT,
    )
    session.add(survey)
    session.flush()
    for position, question in enumerate(draft.questions):
        session.add(
            SurveyQuestion(
                survey_id=survey.id,
                position=position,
                kind=question.kind,
                text=question.text,
                text_en=question.text_en,
                choices=[{"zh": zh, **({"en": en} if en else {})} for zh, en in question.choices],
                field=question.field,
            )
        )
    session.flush()
    return survey


def send_survey(session: Session, survey: Survey, now: datetime) -> int:
    """Make the survey's recipients (active, not opted-out members of its target) and open it.

    Returns how many members it goes to. A survey is sent once; the channels then ask.
    """
    if survey.status is not SurveyStatus.DRAFT:
        raise SurveyError("这份问卷已经发出", "this survey was already sent")
    survey.status = SurveyStatus.SENDING
    session.flush()
    ids = target_members(session, survey.org_id, Target.from_dict(survey.target)).subquery()
    chosen = select(
        literal(survey.id),
        Member.id,
        Member.branch_id,
    ).where(Member.id.in_(select(ids.c.id)), Member.opted_out_at.is_(None))
    session.execute(
        insert(SurveyRecipient).from_select(["survey_id", "member_id", "branch_id"], chosen)
    )
    count = session.scalar(select(func.count()).where(SurveyRecipient.survey_id == survey.id))
    survey.recipients = int(count or 0)
    survey.status = SurveyStatus.OPEN
    survey.sent_at = now
    session.flush()
    return survey.recipients


def close_survey(session: Session, survey: Survey, now: datetime) -> None:
    """Ask no more questions; answers that still come are kept."""
    if survey.status is not SurveyStatus.CLOSED:
        survey.status = SurveyStatus.CLOSED
        survey.closed_at = now
        session.flush()


def open_recipient(session: Session, member_id: int) -> SurveyRecipient | None:
    """The member's oldest unfinished survey that is still open, as its recipient row."""
    return session.scalar(
        select(SurveyRecipient)
        .join(Survey, Survey.id == SurveyRecipient.survey_id)
        .where(
            SurveyRecipient.member_id == member_id,
            SurveyRecipient.completed_at.is_(None),
            Survey.status == SurveyStatus.OPEN,
        )
        .order_by(Survey.sent_at, Survey.id)
        .limit(1)
    )


def current_question(session: Session, recipient: SurveyRecipient) -> SurveyQuestion | None:
    """The question the recipient is at (None once every question is answered or passed)."""
    if recipient.completed_at is not None:
        return None
    return session.scalar(
        select(SurveyQuestion).where(
            SurveyQuestion.survey_id == recipient.survey_id,
            SurveyQuestion.position == recipient.position,
        )
    )


def _value(
    question: SurveyQuestion, choice: int | None, number: int | None, text: str | None
) -> str | None:
    """The answer as the card keeps it: a choice's label, the number, or the text."""
    if question.kind is QuestionKind.CHOICE:
        if choice is None or not 1 <= choice <= len(question.choices):
            raise SurveyError("选项超出范围", "the choice is out of range")
        return question.choices[choice - 1]["zh"]
    if question.kind is QuestionKind.NUMBER:
        if number is None:
            raise SurveyError("请回复数字", "a number is needed")
        return str(number)
    if text is None or not text.strip():
        return None  # a spoken answer: the recording is the answer; the branch writes it down
    return " ".join(text.split())


def _fill_card(
    session: Session,
    member: Member,
    question: SurveyQuestion,
    value: str,
    survey_id: int,
    now: datetime,
) -> None:
    field = question.field
    if field is None or field not in CARD_FIELDS:
        return
    text = value if field == "departure_year" else _card_text(field, value)
    if text is None:
        return
    if field == "city":
        change_status(session, member, city=text, source=ChangeSource.SURVEY, at=now)
    elif field == "employer":
        change_status(session, member, employer=text, source=ChangeSource.SURVEY, at=now)
    elif field == "departure_year":
        year = int(value)
        if not 1950 <= year <= now.year:
            return  # not a year a member left in: kept as the answer, not on the card
        if member.departure_date is not None and member.departure_date.year == year:
            return
        departure = date(year, 1, 1)
        if record_detail(
            session, member, ChangeField.DEPARTURE_YEAR, str(year), ChangeSource.SURVEY, now
        ):
            member.departure_date = departure
    elif record_detail(session, member, ChangeField(field), text, ChangeSource.SURVEY, now):
        setattr(member, field, text)
    # The lines of history this answer wrote name the survey they came from.
    session.flush()
    session.execute(
        update(MemberChange)
        .where(
            MemberChange.member_id == member.id,
            MemberChange.source == ChangeSource.SURVEY,
            MemberChange.changed_at == now,
            MemberChange.survey_id.is_(None),
        )
        .values(survey_id=survey_id)
    )


def _advance(session: Session, recipient: SurveyRecipient, now: datetime) -> None:
    recipient.position += 1
    recipient.asked_at = None
    recipient.asked_count = 0
    total = session.scalar(
        select(func.count()).where(SurveyQuestion.survey_id == recipient.survey_id)
    )
    if recipient.position >= int(total or 0):
        recipient.completed_at = now
    session.flush()


def record_answer(
    session: Session,
    recipient: SurveyRecipient,
    question: SurveyQuestion,
    *,
    channel: Channel,
    now: datetime,
    choice: int | None = None,
    number: int | None = None,
    text: str | None = None,
    recording_id: int | None = None,
) -> SurveyAnswer:
    """Keep a member's answer (replacing an earlier one to the same question), fill the card
    field the question names with a dated line of history, and move on to the next question.

    SurveyError when a choice is out of range or a number question gets no number.
    """
    value = _value(question, choice, number, text)
    member = session.get(Member, recipient.member_id)
    assert member is not None
    answer = session.scalar(
        select(SurveyAnswer).where(
            SurveyAnswer.question_id == question.id, SurveyAnswer.member_id == member.id
        )
    )
    if answer is None:
        answer = SurveyAnswer(
            survey_id=recipient.survey_id,
            question_id=question.id,
            member_id=member.id,
            branch_id=recipient.branch_id,
        )
        session.add(answer)
    answer.choice = choice if question.kind is QuestionKind.CHOICE else None
    answer.number = number if question.kind is QuestionKind.NUMBER else None
    answer.text = text if question.kind is QuestionKind.TEXT else None
    answer.recording_id = recording_id
    answer.channel = channel
    answer.answered_at = now
    if value is not None:
        _fill_card(session, member, question, value, recipient.survey_id, now)
    if recipient.started_at is None:
        recipient.started_at = now
    if recipient.position == question.position and recipient.completed_at is None:
        _advance(session, recipient, now)
    session.flush()
    return answer


def pass_question(session: Session, recipient: SurveyRecipient, now: datetime) -> None:
    """Move on without an answer (one asked twice and not answered in range)."""
    if recipient.completed_at is None:
        _advance(session, recipient, now)


__all__ = [
    "add_survey",
    "close_survey",
    "current_question",
    "open_recipient",
    "pass_question",
    "record_answer",
    "send_survey",
]
