"""The survey pages: surveys of the scope, each question's answers by branch, and a member's
answers beside the card.

Every figure comes from GROUP BY queries over the survey's rows (answers through the index on
(survey_id, question_id), recipients through the one on (survey_id, member_id)); no answer is
loaded as a row except the newest texts of a text question, one page of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.orm import Session

from models.member import Member
from models.org import Organization
from models.reads.common import Page, page_number
from models.scope import Scope
from models.survey import QuestionKind, Survey, SurveyAnswer, SurveyQuestion, SurveyRecipient
from models.user import Role

TEXTS_PER_PAGE = 20


@dataclass
class Figures:
    """How many were asked, answered at least one question, and finished."""

    recipients: int = 0
    responded: int = 0
    completed: int = 0


@dataclass
class NumberStats:
    """A number question's answers: how many, their average, smallest and largest."""

    count: int = 0
    total: int = 0
    low: int | None = None
    high: int | None = None

    @property
    def average(self) -> float | None:
        """The mean of the values, None when there are none."""
        return self.total / self.count if self.count else None

    def add(self, count: int, total: int, low: int | None, high: int | None) -> None:
        """Fold in one group's figures."""
        self.count += count
        self.total += total
        if low is not None:
            self.low = low if self.low is None else min(self.low, low)
        if high is not None:
            self.high = high if self.high is None else max(self.high, high)


@dataclass
class BranchAnswers:
    """One branch's answers to one question: per option (choice) or the values' figures."""

    branch_id: int
    branch: str
    answered: int = 0
    counts: dict[int, int] = field(default_factory=dict)  # digit -> how many chose it
    numbers: NumberStats = field(default_factory=NumberStats)


@dataclass
class TextAnswer:
    """A text question's answer: the member, their text or recording, and when."""

    member_id: int
    name: str
    branch: str
    text: str | None
    recording_id: int | None
    answered_at: datetime


@dataclass
class QuestionResults:
    """One question's answers: in all and by branch."""

    question: SurveyQuestion
    answered: int = 0
    counts: dict[int, int] = field(default_factory=dict)  # choice: digit -> count
    numbers: NumberStats = field(default_factory=NumberStats)
    by_branch: list[BranchAnswers] = field(default_factory=list)
    texts: Page[TextAnswer] | None = None  # a number's or a text's answers, newest first

    @property
    def labels(self) -> list[str]:
        """The options' labels, digit 1 first."""
        return [choice.get("zh", "") for choice in self.question.choices]


@dataclass
class SurveyResults:
    """A survey's figures and each question's answers, as the scope may see them."""

    survey: Survey
    figures: Figures
    branches: dict[int, Figures]
    questions: list[QuestionResults]


def surveys(session: Session, scope: Scope, *, page: int = 1, per_page: int = 20) -> Page[Survey]:
    """Surveys of the scope's organisations, newest first."""
    base = select(Survey).where(scope.within(Survey.org_id, scope.org_ids))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = page_number(page)
    rows = session.scalars(
        base.order_by(Survey.created_at.desc(), Survey.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return Page(list(rows), page, per_page, total)


def visible_survey(session: Session, scope: Scope, survey_id: int) -> Survey | None:
    """A survey of the user's organisations, else None."""
    survey = session.get(Survey, survey_id)
    if survey is None or not scope.sees_org(survey.org_id):
        return None
    return survey


def _answers_seen(query: Select, scope: Scope | None, column: ColumnElement[int]) -> Select:
    """Keep the rows of members the scope sees (by the branch kept on the row where it can)."""
    if scope is None:
        return query
    if scope.role in (Role.TOWNSHIP, Role.BRANCH):
        return query.where(scope.within(column, scope.branch_ids or (0,)))
    return query.join(Member, Member.id == column.table.c.member_id).where(scope.member_clause())


def figures(
    session: Session, survey_id: int, scope: Scope | None = None, *, by_branch: bool = False
) -> tuple[Figures, dict[int, Figures]]:
    """Recipients, responded (at least one answer) and completed: in all, and by branch when
    asked (a grouping that costs as much again)."""
    rows = SurveyRecipient.__table__.c
    columns = (
        func.count(),
        func.count(rows.started_at),
        func.count(rows.completed_at),
    )
    query = select(rows.branch_id if by_branch else literal(0), *columns).where(
        rows.survey_id == survey_id
    )
    if by_branch:
        query = query.group_by(rows.branch_id)
    query = _answers_seen(query, scope, rows.branch_id)
    whole, branches = Figures(), {}
    for branch_id, count, started, done in session.execute(query):
        if by_branch:
            branches[branch_id] = Figures(count, started, done)
        whole.recipients += count
        whole.responded += started
        whole.completed += done
    return whole, branches


def results(
    session: Session,
    survey: Survey,
    scope: Scope | None = None,
    *,
    text_page: int = 1,
    texts_per_page: int = TEXTS_PER_PAGE,
) -> SurveyResults:
    """Each question's answers by branch, the figures, and a page of the newest texts of each
    text question. `scope` None: every member.

    Three grouped queries read the covering index on (survey_id, question_id, branch_id,
    choice, number): the choices counted per branch and option, the numbers' count, sum,
    lowest and highest per branch, and the texts counted; no answer row is read but the page
    of texts shown."""
    whole, by_branch = figures(session, survey.id, scope)
    answers = SurveyAnswer.__table__.c
    questions = {question.id: QuestionResults(question) for question in survey.questions}
    of_kind = {kind: [q.id for q in survey.questions if q.kind is kind] for kind in QuestionKind}
    branch_rows: dict[int, dict[int, BranchAnswers]] = defaultdict(dict)
    branch_ids: set[int] = set()

    def branch_row(question_id: int, branch_id: int) -> BranchAnswers:
        branch_ids.add(branch_id)
        return branch_rows[question_id].setdefault(branch_id, BranchAnswers(branch_id, ""))

    if of_kind[QuestionKind.CHOICE]:
        chosen = (
            select(answers.question_id, answers.branch_id, answers.choice, func.count())
            .where(
                answers.survey_id == survey.id,
                answers.question_id.in_(of_kind[QuestionKind.CHOICE]),
            )
            .group_by(answers.question_id, answers.branch_id, answers.choice)
        )
        for question_id, branch_id, choice, count in session.execute(
            _answers_seen(chosen, scope, answers.branch_id)
        ):
            result, row = questions[question_id], branch_row(question_id, branch_id)
            row.answered += count
            result.answered += count
            if choice is not None:
                row.counts[choice] = row.counts.get(choice, 0) + count
                result.counts[choice] = result.counts.get(choice, 0) + count
    if of_kind[QuestionKind.NUMBER]:
        numbered = (
            select(
                answers.question_id,
                answers.branch_id,
                func.count(),
                func.count(answers.number),
                func.coalesce(func.sum(answers.number), 0),
                func.min(answers.number),
                func.max(answers.number),
            )
            .where(
                answers.survey_id == survey.id,
                answers.question_id.in_(of_kind[QuestionKind.NUMBER]),
            )
            .group_by(answers.question_id, answers.branch_id)
        )
        for question_id, branch_id, count, numbers, total, low, high in session.execute(
            _answers_seen(numbered, scope, answers.branch_id)
        ):
            result, row = questions[question_id], branch_row(question_id, branch_id)
            row.answered += count
            result.answered += count
            if numbers:
                row.numbers.add(numbers, int(total), low, high)
                result.numbers.add(numbers, int(total), low, high)
    if of_kind[QuestionKind.TEXT]:
        texted = (
            select(answers.question_id, func.count())
            .where(
                answers.survey_id == survey.id,
                answers.question_id.in_(of_kind[QuestionKind.TEXT]),
            )
            .group_by(answers.question_id)
        )
        for question_id, count in session.execute(_answers_seen(texted, scope, answers.branch_id)):
            questions[question_id].answered += count
    names = _branch_names(session, branch_ids)
    for question_id, rows in branch_rows.items():
        ordered = sorted(
            rows.values(), key=lambda row: (names.get(row.branch_id, ""), row.branch_id)
        )
        for row in ordered:
            row.branch = names.get(row.branch_id, "")
        questions[question_id].by_branch = ordered
    for result in questions.values():
        if result.question.kind is not QuestionKind.CHOICE:
            result.texts = text_answers(
                session,
                survey.id,
                result.question.id,
                scope,
                page=text_page,
                per_page=texts_per_page,
                total=result.answered,
            )
    return SurveyResults(survey, whole, by_branch, list(questions.values()))


def text_answers(
    session: Session,
    survey_id: int,
    question_id: int,
    scope: Scope | None,
    *,
    page: int = 1,
    per_page: int = TEXTS_PER_PAGE,
    total: int | None = None,
) -> Page[TextAnswer]:
    """A number or text question's answers (values, texts, recordings), newest first, one
    page.

    Newest is the last stored (the highest id): answers are stored as they come, and the
    order comes from the index on (survey_id, question_id) with no sort."""
    answers = SurveyAnswer.__table__.c
    base = select(answers.id).where(
        answers.survey_id == survey_id, answers.question_id == question_id
    )
    base = _answers_seen(base, scope, answers.branch_id)
    if total is None:  # the results count them already
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = page_number(page)
    newest = base.order_by(answers.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ids = list(session.scalars(newest))
    rows = session.execute(
        select(SurveyAnswer, Member.name, Organization.name)
        .join(Member, Member.id == SurveyAnswer.member_id)
        .join(Organization, Organization.id == SurveyAnswer.branch_id)
        .where(SurveyAnswer.id.in_(ids or [0]))
        .order_by(SurveyAnswer.id.desc())
    ).all()
    items = [
        TextAnswer(
            answer.member_id,
            name,
            branch,
            str(answer.number) if answer.number is not None else answer.text,
            answer.recording_id,
            answer.answered_at,
        )
        for answer, name, branch in rows
    ]
    return Page(items, page, per_page, total)


def _branch_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(sorted(ids)))
    )
    return {org_id: name for org_id, name in rows}


@dataclass
class MemberAnswer:
    """One of a member's answers, as the card shows it."""

    survey_id: int
    survey: str
    question: str
    kind: QuestionKind
    answer: str  # the option's label, the number or the text ("" for a recording alone)
    recording_id: int | None
    answered_at: datetime


def answer_text(question: SurveyQuestion, answer: SurveyAnswer) -> str:
    """An answer as words: a choice's label (with its digit), the number, or the text."""
    if answer.choice is not None:
        choices = question.choices or []
        label = (
            choices[answer.choice - 1].get("zh", "") if 0 < answer.choice <= len(choices) else ""
        )
        return f"{answer.choice}. {label}" if label else str(answer.choice)
    if answer.number is not None:
        return str(answer.number)
    return answer.text or ""


def member_answers(session: Session, member_id: int, *, limit: int = 100) -> list[MemberAnswer]:
    """A member's survey answers, newest survey first, in question order."""
    rows = session.execute(
        select(SurveyAnswer, SurveyQuestion, Survey.title)
        .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswer.question_id)
        .join(Survey, Survey.id == SurveyAnswer.survey_id)
        .where(SurveyAnswer.member_id == member_id)
        .order_by(Survey.id.desc(), SurveyQuestion.position)
        .limit(limit)
    ).all()
    return [
        MemberAnswer(
            survey_id=answer.survey_id,
            survey=title,
            question=question.text,
            kind=question.kind,
            answer=answer_text(question, answer),
            recording_id=answer.recording_id,
            answered_at=answer.answered_at,
        )
        for answer, question, title in rows
    ]


def export_rows(session: Session, survey: Survey, scope: Scope | None) -> list[list[object]]:
    """Every answer the scope sees, one row each: member, branch, question number and text,
    the answer in words (a recording as "recording:<id>"), channel, time; member order."""
    questions = {question.id: question for question in survey.questions}
    query = (
        select(SurveyAnswer, Member.name, Organization.name)
        .join(Member, Member.id == SurveyAnswer.member_id)
        .join(Organization, Organization.id == SurveyAnswer.branch_id)
        .where(SurveyAnswer.survey_id == survey.id)
        .order_by(SurveyAnswer.member_id, SurveyAnswer.question_id)
    )
    if scope is not None:
        if scope.role in (Role.TOWNSHIP, Role.BRANCH):
            query = query.where(scope.within(SurveyAnswer.branch_id, scope.branch_ids or (0,)))
        else:
            query = query.where(scope.member_clause())
    rows: list[list[object]] = []
    for answer, name, branch in session.execute(query):
        question = questions.get(answer.question_id)
        if question is None:
            continue
        words = answer_text(question, answer)
        if not words and answer.recording_id is not None:
            words = f"recording:{answer.recording_id}"
        rows.append(
            [
                name,
                branch,
                question.position + 1,
                question.text,
                words,
                answer.channel.value,
                answer.answered_at,
            ]
        )
    return rows


def results_json(session: Session, survey: Survey) -> dict[str, object]:
    """The results as `flask survey results ID --json` prints them: the figures and, per
    question, its text and answers: a choice's count per option keyed by the option's digit
    ("1".."9", every option present), a number's or a text's list of values (texts oldest
    first; a recording alone is "recording:<id>")."""
    whole, _ = figures(session, survey.id)
    questions: list[dict[str, object]] = []
    grouped = dict(
        (
            (question_id, choice),
            count,
        )
        for question_id, choice, count in session.execute(
            select(SurveyAnswer.question_id, SurveyAnswer.choice, func.count())
            .where(SurveyAnswer.survey_id == survey.id, SurveyAnswer.choice.is_not(None))
            .group_by(SurveyAnswer.question_id, SurveyAnswer.choice)
        )
    )
    for question in survey.questions:
        entry: dict[str, object] = {
            "position": question.position + 1,
            "text": question.text,
            "kind": question.kind.value,
        }
        if question.field:
            entry["field"] = question.field
        if question.kind is QuestionKind.CHOICE:
            entry["options"] = {
                str(digit): choice.get("zh", "")
                for digit, choice in enumerate(question.choices or [], 1)
            }
            entry["answers"] = {
                str(digit): grouped.get((question.id, digit), 0)
                for digit in range(1, len(question.choices or []) + 1)
            }
        elif question.kind is QuestionKind.NUMBER:
            entry["answers"] = list(
                session.scalars(
                    select(SurveyAnswer.number)
                    .where(
                        SurveyAnswer.question_id == question.id, SurveyAnswer.number.is_not(None)
                    )
                    .order_by(SurveyAnswer.answered_at, SurveyAnswer.id)
                )
            )
        else:
            entry["answers"] = [
                text if text else f"recording:{recording_id}"
                for text, recording_id in session.execute(
                    select(SurveyAnswer.text, SurveyAnswer.recording_id)
                    .where(SurveyAnswer.question_id == question.id)
                    .order_by(SurveyAnswer.answered_at, SurveyAnswer.id)
                )
            ]
        questions.append(entry)
    return {
        "id": survey.id,
        "title": survey.title,
        "status": survey.status.value,
        "recipients": whole.recipients,
        "responded": whole.responded,
        "completed": whole.completed,
        "questions": questions,
    }


__all__ = [
    "BranchAnswers",
    "Figures",
    "MemberAnswer",
    "NumberStats",
    "QuestionResults",
    "SurveyResults",
    "TextAnswer",
    "answer_text",
    "export_rows",
    "figures",
    "member_answers",
    "results",
    "results_json",
    "surveys",
    "text_answers",
    "visible_survey",
]
