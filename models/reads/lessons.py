"""The lessons and campaigns pages, with listening figures for the scope."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models.call import Call
from models.lesson import Lesson, LessonCampaign, LessonListen
from models.member import Member
from models.org import subtree_ids
from models.reads.common import Page, paginate
from models.scope import Scope


def lesson_org_ids(session: Session, scope: Scope) -> list[int]:
    """Organisations whose lessons the user sees: the whole township's."""
    return subtree_ids(session, scope.township_id)


@dataclass(frozen=True)
class LessonStats:
    """A lesson and how the scope's members listened to it."""

    lesson: Lesson
    listens: int
    completed: int
    listeners: int
    # Seconds each listener heard, their listens summed (a lesson heard in parts counts whole).
    average_seconds: int


def lessons(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = 20
) -> Page[LessonStats]:
    """The township's lessons, newest first, with listening figures for the scope."""
    query = (
        select(Lesson)
        .where(scope.within(Lesson.org_id, lesson_org_ids(session, scope)))
        .order_by(Lesson.created_at.desc(), Lesson.id.desc())
    )
    found = paginate(session, query, page, per_page)
    ids = [lesson.id for lesson in found.items]
    figures = {
        lid: (int(n), int(c or 0), int(u), int(s or 0) // max(1, int(u)))
        for lid, n, c, u, s in session.execute(
            select(
                LessonListen.lesson_id,
                func.count(),
                func.sum(case((LessonListen.completed.is_(True), 1), else_=0)),
                func.count(func.distinct(LessonListen.member_id)),
                func.sum(LessonListen.seconds),
            )
            .join(Member, Member.id == LessonListen.member_id)
            .where(LessonListen.lesson_id.in_(ids), scope.member_clause())
            .group_by(LessonListen.lesson_id)
        ).all()
    }
    items = [LessonStats(lesson, *figures.get(lesson.id, (0, 0, 0, 0))) for lesson in found.items]
    return Page(items, found.page, found.per_page, found.total)


def visible_lesson(session: Session, scope: Scope, lesson_id: int) -> Lesson | None:
    """A lesson of the user's township, else None."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or lesson.org_id not in lesson_org_ids(session, scope):
        return None
    return lesson


def campaigns(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = 20
) -> Page[LessonCampaign]:
    """Lesson campaigns of the scope's organisations, newest first."""
    query = (
        select(LessonCampaign)
        .where(scope.within(LessonCampaign.org_id, scope.org_ids))
        .order_by(LessonCampaign.created_at.desc(), LessonCampaign.id.desc())
    )
    return paginate(session, query, page, per_page)


def campaign_calls(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Calls of each campaign counted by status."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if campaign_ids:
        for cid, status, n in session.execute(
            select(Call.campaign_id, Call.status, func.count())
            .where(Call.campaign_id.in_(campaign_ids))
            .group_by(Call.campaign_id, Call.status)
        ).all():
            if cid is not None:
                counts[int(cid)][str(status)] = int(n)
    return counts


__all__ = [
    "LessonStats",
    "campaign_calls",
    "campaigns",
    "lesson_org_ids",
    "lessons",
    "visible_lesson",
]
