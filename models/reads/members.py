"""The member list: search and filters, the choices its forms offer, members the user may see."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from models.member import Member
from models.org import Organization, OrgKind, subtree_ids
from models.reads.common import PER_PAGE, Page, branch_clause, paginate
from models.report import Report
from models.scope import Scope
from models.user import Role, User


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class MemberFilter:
    """The member list's search box and filters."""

    q: str = ""
    branch_id: int | None = None
    city: str = ""
    status: str = ""
    reported: bool | None = None
    period: str = ""
    active: bool | None = True


@dataclass(frozen=True)
class MemberRow:
    """A member on the list, with whether they reported in the chosen period."""

    member: Member
    reported: bool
    studied: bool | None


def search_members(
    session: Session,
    scope: Scope,
    filters: MemberFilter,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[MemberRow]:
    """The scope's members matching a search and filters, in branch then id order."""
    clause = branch_clause(scope, filters.branch_id)
    query = select(Member).where(clause)
    if filters.active is not None:
        query = query.where(Member.active.is_(filters.active))
    q = filters.q.strip()
    if q:
        digits = re.sub(r"\D", "", q)
        ors = [Member.name.like(_like(q), escape="\\"), Member.card_no == q]
        if len(digits) >= 3:
            ors.append(Member.phone.like(_like(digits), escape="\\"))
        query = query.where(or_(*ors))
    if filters.city:
        query = query.where(Member.city == filters.city)
    if filters.status:
        query = query.where(Member.status == filters.status)
    period = filters.period
    if filters.reported is not None and period:
        has_report = exists().where(Report.member_id == Member.id, Report.period == period)
        query = query.where(has_report if filters.reported else ~has_report)
    members = paginate(session, query.order_by(Member.branch_id, Member.id), page, per_page)
    reports: dict[int, Report] = {}
    if period and members.items:
        reports = {
            r.member_id: r
            for r in session.scalars(
                select(Report).where(
                    Report.member_id.in_([m.id for m in members.items]), Report.period == period
                )
            )
        }
    rows = [
        MemberRow(m, m.id in reports, reports[m.id].studied if m.id in reports else None)
        for m in members.items
    ]
    return Page(rows, members.page, members.per_page, members.total)


def member_cities(session: Session, scope: Scope, limit: int = 200) -> list[str]:
    """The cities the scope's members are in, most members first (for the filter)."""
    rows = session.execute(
        select(Member.city, func.count())
        .where(scope.member_clause(), Member.city.is_not(None))
        .group_by(Member.city)
        .order_by(func.count().desc(), Member.city)
        .limit(limit)
    ).all()
    return [city for city, _ in rows if city]


def member_industries(session: Session, scope: Scope, limit: int = 200) -> list[str]:
    """The industries the scope's members work in, most members first (for the composer)."""
    rows = session.execute(
        select(Member.industry, func.count())
        .where(scope.member_clause(), Member.industry.is_not(None))
        .group_by(Member.industry)
        .order_by(func.count().desc(), Member.industry)
        .limit(limit)
    ).all()
    return [industry for industry, _ in rows if industry]


def member_hosts(session: Session, scope: Scope) -> list[Organization]:
    """The host organisations the scope's members are attached to, by city and name."""
    hosts = select(Member.host_org_id).where(scope.member_clause()).distinct()
    return list(
        session.scalars(
            select(Organization)
            .where(Organization.kind == OrgKind.HOST, Organization.id.in_(hosts))
            .order_by(Organization.city, Organization.name)
        )
    )


def visible_member(session: Session, scope: Scope, member_id: int) -> Member | None:
    """The member with this id if the user may see them, else None."""
    member = session.get(Member, member_id)
    if member is None or not scope.sees_member(member):
        return None
    return member


def visible_member_ids(session: Session, scope: Scope, ids: Sequence[int]) -> list[int]:
    """Those of the given member ids the user may see."""
    if not ids:
        return []
    return list(
        session.scalars(select(Member.id).where(Member.id.in_(list(ids)), scope.member_clause()))
    )


def liaison_choices(session: Session, branch_id: int) -> list[User]:
    """The liaison users of a branch, who may be assigned its members."""
    return list(
        session.scalars(
            select(User)
            .where(User.org_id == branch_id, User.role == Role.LIAISON, User.active.is_(True))
            .order_by(User.username)
        )
    )


def host_choices(session: Session, scope: Scope) -> list[Organization]:
    """The host organisations the user may attach a member to: those filed under the user's
    township (a host's parent in the organisation tree), by city and name."""
    township = subtree_ids(session, scope.township_id)
    return list(
        session.scalars(
            select(Organization)
            .where(
                Organization.kind == OrgKind.HOST, scope.within(Organization.parent_id, township)
            )
            .order_by(Organization.city, Organization.name)
        )
    )


__all__ = [
    "MemberFilter",
    "MemberRow",
    "host_choices",
    "liaison_choices",
    "member_cities",
    "member_hosts",
    "member_industries",
    "search_members",
    "visible_member",
    "visible_member_ids",
]
