"""Shared by the read queries of every page: pages of a list, the scope's members, periods,
names."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.lesson import LessonListen
from models.member import Member
from models.org import Organization
from models.period import Period, parse_period, period_of, shift_period
from models.scope import Scope
from models.user import User

T = TypeVar("T")

# The longest range a page may ask for: two years of months.
MAX_PERIODS = 24
PER_PAGE = 50


def periods_between(first: str, last: str) -> list[str]:
    """Every period from first to last inclusive; ValueError when reversed or too long."""
    if parse_period(first) is None or parse_period(last) is None:
        raise ValueError("periods are written YYYY-MM")
    count = Period.parse(first).months_until(Period.parse(last)) + 1
    if count < 1:
        raise ValueError("the first period comes after the last")
    if count > MAX_PERIODS:
        raise ValueError(f"at most {MAX_PERIODS} periods")
    return [shift_period(first, i) for i in range(count)]


def current_period(scope: Scope, now: datetime | None = None) -> str:
    """The period that is running now in the scope's time zone."""
    return period_of(now or utcnow(), scope.timezone)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the whole list takes (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether there is a page before this one."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether there is a page after this one."""
        return self.page < self.pages


def page_number(page: int) -> int:
    """A page number asked for, at least 1."""
    return max(1, page)


def paginate(session: Session, query: Select[T], page: int, per_page: int) -> Page[T]:
    """Run a query for one page, with the total count of the whole list."""
    page = page_number(page)
    # Counting with the page's FROM and WHERE but no columns: no subquery to materialise.
    counter = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    total = session.scalar(counter) or 0
    items = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, per_page, total)


def branch_clause(scope: Scope, branch_id: int | None) -> ColumnElement[bool]:
    """The scope's members, narrowed to one branch when asked (a branch outside: nobody)."""
    clause = scope.member_clause()
    if branch_id is not None:
        clause = and_(clause, Member.branch_id == branch_id)
    return clause


def member_scope(scope: Scope, branch_id: int | None = None) -> ColumnElement[bool]:
    """The members a user may see, narrowed to one branch when asked (for exports)."""
    return branch_clause(scope, branch_id)


def org_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Organisations' names by id, for labelling rows."""
    if not ids:
        return {}
    return dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(ids))
        ).all()
    )


def members_by_id(session: Session, ids: set[int | None]) -> dict[int, Member]:
    """Members by id, for labelling rows of another table."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(wanted)))}


def user_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    """Display names (or usernames) of users, for labelling rows."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(
        session.execute(
            select(User.id, func.coalesce(User.display_name, User.username)).where(
                User.id.in_(wanted)
            )
        ).all()
    )


def listens_by_member(
    session: Session, ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, int]:
    """How many lessons each of these members listened to in [start, end)."""
    return dict(
        session.execute(
            select(LessonListen.member_id, func.count())
            .where(
                LessonListen.member_id.in_(ids),
                LessonListen.listened_at >= start,
                LessonListen.listened_at < end,
            )
            .group_by(LessonListen.member_id)
        ).all()
    )


__all__ = [
    "MAX_PERIODS",
    "PER_PAGE",
    "Page",
    "branch_clause",
    "current_period",
    "listens_by_member",
    "member_scope",
    "members_by_id",
    "org_names",
    "page_number",
    "paginate",
    "periods_between",
    "user_names",
]
