"""The yearly review (一年一评): each member's year and current rating."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from models.contact import ContactKind, ContactLog
from models.cycle import is_due
from models.deed import Exemplar
from models.help import HelpRequest, HelpStatus
from models.lesson import LessonListen
from models.member import ChangeSource, Member, MemberChange
from models.period import period_bounds
from models.rating import GRADE_ZH, MemberRating
from models.reads.common import (
    PER_PAGE,
    Page,
    branch_clause,
    current_period,
    listens_by_member,
    org_names,
    paginate,
    user_names,
)
from models.reads.deeds import Contribution, contributions, exemplars
from models.report import Report
from models.scope import Scope
from models.tally import studied_sum

UNRATED = "none"  # the review's rating filter for members not yet rated
# The yearly review's basis as exported (`flask review export`, and the review page).
BASIS_HEADER = (
    "phone",
    "name",
    "branch",
    "year",
    "reports",
    "studied_months",
    "lesson_minutes",
    "deeds",
    "tips",
    "rating",
)


@dataclass(frozen=True)
class ReviewRow:
    """One member's year for the yearly review (一年一评)."""

    member: Member
    branch_name: str
    reports: int
    studied: int
    lessons: int
    help_requests: int
    contacts: int
    home_visits: int
    feedback: int
    due: int = 12  # months of the year (so far) the member was due to report in
    rating: MemberRating | None = None
    rater: str = ""
    # 三比's basis beside the rating: study, work and contribution.
    lesson_minutes: int = 0
    on_time: int = 0  # months reported before the month ended
    status_updates: int = 0  # changes of city, employer or phone the member sent
    help_resolved: int = 0
    contribution: Contribution = field(default_factory=Contribution)
    exemplar: Exemplar | None = None
    marker: str = ""  # who marked the member exemplary


def _rated(year: int, grade: str) -> ColumnElement[bool]:
    """Members whose current rating for the year is this grade (or who have none)."""
    current = select(MemberRating.member_id).where(
        MemberRating.year == year, MemberRating.superseded_at.is_(None)
    )
    if grade == UNRATED:
        return Member.id.not_in(current)
    return Member.id.in_(current.where(MemberRating.grade == grade))


def yearly_review(
    session: Session,
    scope: Scope,
    year: int,
    *,
    branch_id: int | None = None,
    grade: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[ReviewRow]:
    """Per member: the year's reports, lessons, help requests, contact log and rating.

    `grade` keeps the members with that current rating (UNRATED: those with none).
    """
    query = (
        select(Member)
        .where(branch_clause(scope, branch_id), Member.active.is_(True))
        .order_by(Member.branch_id, Member.id)
    )
    if grade:
        query = query.where(_rated(year, grade))
    members = paginate(session, query, page, per_page)
    return Page(
        _review_rows(session, scope, year, members.items),
        members.page,
        members.per_page,
        members.total,
    )


def iter_yearly_review(
    session: Session,
    scope: Scope,
    year: int,
    *,
    branch_id: int | None = None,
    grade: str | None = None,
) -> Iterator[ReviewRow]:
    """The whole review, for export, read a chunk at a time."""
    page = 1
    while True:
        chunk = yearly_review(
            session, scope, year, branch_id=branch_id, grade=grade, page=page, per_page=500
        )
        yield from chunk.items
        if not chunk.has_next:
            return
        page += 1


def basis_rows(
    session: Session,
    scope: Scope,
    year: int,
    *,
    branch_id: int | None = None,
    grade: str | None = None,
) -> Iterator[list[object]]:
    """The review's basis, one row per member in BASIS_HEADER's order (the rating in Chinese,
    empty when not rated; deeds are confirmed deeds of every item, tips approved tips)."""
    for r in iter_yearly_review(session, scope, year, branch_id=branch_id, grade=grade):
        yield [
            r.member.phone,
            r.member.name,
            r.branch_name,
            year,
            r.reports,
            r.studied,
            r.lesson_minutes,
            r.contribution.total,
            r.contribution.tips,
            GRADE_ZH[r.rating.grade] if r.rating else "",
        ]


def _review_rows(
    session: Session, scope: Scope, year: int, members: list[Member]
) -> list[ReviewRow]:
    ids = [m.id for m in members]
    if not ids:
        return []
    periods = [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    start, _ = period_bounds(periods[0], scope.timezone)
    _, end = period_bounds(periods[-1], scope.timezone)
    reports = {
        mid: (int(n), int(s))
        for mid, n, s in session.execute(
            select(Report.member_id, func.count(), studied_sum())
            .where(Report.member_id.in_(ids), Report.period.in_(periods))
            .group_by(Report.member_id)
        ).all()
    }
    lessons = listens_by_member(session, ids, start, end)
    seconds = dict(
        session.execute(
            select(LessonListen.member_id, func.coalesce(func.sum(LessonListen.seconds), 0))
            .where(
                LessonListen.member_id.in_(ids),
                LessonListen.listened_at >= start,
                LessonListen.listened_at < end,
            )
            .group_by(LessonListen.member_id)
        ).all()
    )
    ends = {p: period_bounds(p, scope.timezone)[1] for p in periods}
    on_time: dict[int, int] = defaultdict(int)
    for mid, period, received in session.execute(
        select(Report.member_id, Report.period, Report.received_at).where(
            Report.member_id.in_(ids), Report.period.in_(periods)
        )
    ).all():
        if received < ends[period]:
            on_time[mid] += 1
    updates = dict(
        session.execute(
            select(MemberChange.member_id, func.count())
            .where(
                MemberChange.member_id.in_(ids),
                MemberChange.source.in_((ChangeSource.SMS, ChangeSource.IVR)),
                MemberChange.changed_at >= start,
                MemberChange.changed_at < end,
            )
            .group_by(MemberChange.member_id)
        ).all()
    )
    resolved = dict(
        session.execute(
            select(HelpRequest.member_id, func.count())
            .where(
                HelpRequest.member_id.in_(ids),
                HelpRequest.status == HelpStatus.RESOLVED,
                HelpRequest.resolved_at >= start,
                HelpRequest.resolved_at < end,
            )
            .group_by(HelpRequest.member_id)
        ).all()
    )
    given = contributions(session, ids, start, end)
    marks = exemplars(session, ids, year)
    helps = dict(
        session.execute(
            select(HelpRequest.member_id, func.count())
            .where(
                HelpRequest.member_id.in_(ids),
                HelpRequest.created_at >= start,
                HelpRequest.created_at < end,
            )
            .group_by(HelpRequest.member_id)
        ).all()
    )
    contacts: dict[tuple[int, ContactKind], int] = defaultdict(int)
    for mid, kind, n in session.execute(
        select(ContactLog.member_id, ContactLog.kind, func.count())
        .where(ContactLog.member_id.in_(ids), ContactLog.period.in_(periods))
        .group_by(ContactLog.member_id, ContactLog.kind)
    ).all():
        contacts[(mid, kind)] = int(n)
    names = org_names(session, {m.branch_id for m in members})
    running = current_period(scope)
    starts = [period_bounds(p, scope.timezone)[0] for p in periods if p <= running]
    ratings = {
        r.member_id: r
        for r in session.scalars(
            select(MemberRating).where(
                MemberRating.member_id.in_(ids),
                MemberRating.year == year,
                MemberRating.superseded_at.is_(None),
            )
        )
    }
    raters = user_names(
        session,
        {r.rater_id for r in ratings.values()} | {m.marked_by for m in marks.values()},
    )
    return [
        ReviewRow(
            member=m,
            branch_name=names.get(m.branch_id, ""),
            reports=reports.get(m.id, (0, 0))[0],
            studied=reports.get(m.id, (0, 0))[1],
            lessons=int(lessons.get(m.id, 0)),
            help_requests=int(helps.get(m.id, 0)),
            contacts=contacts[(m.id, ContactKind.MONTHLY_CONTACT)],
            home_visits=contacts[(m.id, ContactKind.HOME_VISIT)],
            feedback=contacts[(m.id, ContactKind.HOST_FEEDBACK)],
            due=sum(is_due(m.created_at, start) for start in starts),
            rating=ratings.get(m.id),
            rater=raters.get(ratings[m.id].rater_id or 0, "") if m.id in ratings else "",
            lesson_minutes=int(seconds.get(m.id, 0)) // 60,
            on_time=on_time[m.id],
            status_updates=int(updates.get(m.id, 0)),
            help_resolved=int(resolved.get(m.id, 0)),
            contribution=given.get(m.id) or Contribution(),
            exemplar=marks.get(m.id),
            marker=raters.get(marks[m.id].marked_by or 0, "") if m.id in marks else "",
        )
        for m in members
    ]


__all__ = [
    "BASIS_HEADER",
    "UNRATED",
    "ReviewRow",
    "basis_rows",
    "iter_yearly_review",
    "yearly_review",
]
