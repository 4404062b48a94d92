"""Deeds for home and the tips board: what waits for confirmation, a member's deeds, the
tips with their listens, each member's contribution in a year and the branches compared."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from models.deed import TIP_ITEM, Deed, DeedItem, DeedStatus, Exemplar, TipTopic
from models.member import Member
from models.rating import Grade, MemberRating
from models.reads.common import PER_PAGE, Page, paginate
from models.scope import Scope

ITEMS = tuple(int(item) for item in DeedItem)


def _visible(scope: Scope) -> ColumnElement[bool]:
    """Deeds of the scope's members, and (for branch and township) staff tips of its branches."""
    mine = Deed.member_id.in_(select(Member.id).where(scope.member_clause()))
    if not scope.branch_ids:
        return mine
    return or_(mine, and_(Deed.member_id.is_(None), scope.within(Deed.org_id, scope.branch_ids)))


def waiting_deeds(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Deed]:
    """Deeds and tips waiting for the branch (or host) to confirm, oldest first."""
    query = (
        select(Deed)
        .where(Deed.status == DeedStatus.PENDING, _visible(scope))
        .order_by(Deed.created_at, Deed.id)
    )
    return paginate(session, query, page, per_page)


def waiting_count(session: Session, scope: Scope) -> int:
    """How many deeds wait for confirmation in the scope."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Deed)
            .where(Deed.status == DeedStatus.PENDING, _visible(scope))
        )
        or 0
    )


def visible_deed(session: Session, scope: Scope, deed_id: int) -> Deed | None:
    """A deed the user may see and decide, or None."""
    return session.scalar(select(Deed).where(Deed.id == deed_id, _visible(scope)))


def member_deeds(session: Session, member_id: int) -> list[Deed]:
    """Every deed and tip of a member, newest first (for the member's file)."""
    return list(
        session.scalars(
            select(Deed)
            .where(Deed.member_id == member_id)
            .order_by(Deed.created_at.desc(), Deed.id.desc())
        )
    )


def tips_board(
    session: Session,
    scope: Scope,
    *,
    topic: TipTopic | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[Deed]:
    """The approved tips the scope sees, newest first, with their listens."""
    query = select(Deed).where(
        Deed.item == TIP_ITEM, Deed.status == DeedStatus.CONFIRMED, _visible(scope)
    )
    if topic is not None:
        query = query.where(Deed.topic == topic)
    query = query.order_by(Deed.created_at.desc(), Deed.id.desc())
    return paginate(session, query, page, per_page)


@dataclass
class Contribution:
    """A member's contribution in a year: confirmed deeds per item, tips approved and heard."""

    deeds: dict[int, int] = field(default_factory=dict)
    tips: int = 0
    tip_listens: int = 0

    @property
    def total(self) -> int:
        """Confirmed deeds of every item (tips included)."""
        return sum(self.deeds.values())


def contributions(
    session: Session, member_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, Contribution]:
    """Per member: confirmed deeds logged in [start, end), by item; approved tips and listens."""
    found: dict[int, Contribution] = defaultdict(Contribution)
    if not member_ids:
        return found
    rows = session.execute(
        select(Deed.member_id, Deed.item, func.count(), func.coalesce(func.sum(Deed.listens), 0))
        .where(
            Deed.member_id.in_(member_ids),
            Deed.status == DeedStatus.CONFIRMED,
            Deed.created_at >= start,
            Deed.created_at < end,
        )
        .group_by(Deed.member_id, Deed.item)
    ).all()
    for member_id, item, n, listens in rows:
        if member_id is None:  # pragma: no cover - the WHERE keeps members' deeds only
            continue
        entry = found[member_id]
        entry.deeds[int(item)] = int(n)
        if item == TIP_ITEM:
            entry.tips, entry.tip_listens = int(n), int(listens)
    return found


def exemplars(session: Session, member_ids: Sequence[int], year: int) -> dict[int, Exemplar]:
    """The exemplary marks (树形象) of these members for a year."""
    if not member_ids:
        return {}
    return {
        e.member_id: e
        for e in session.scalars(
            select(Exemplar).where(Exemplar.member_id.in_(member_ids), Exemplar.year == year)
        )
    }


@dataclass
class BranchActivity:
    """One branch's activities in a year, for the township's comparison."""

    branch_id: int
    name: str
    members: int = 0
    active_members: int = 0  # members with at least one confirmed deed
    deeds: dict[int, int] = field(default_factory=lambda: dict.fromkeys(ITEMS, 0))
    tips: int = 0
    tip_listens: int = 0
    grades: dict[str, int] = field(default_factory=lambda: {g.value: 0 for g in Grade})
    exemplars: int = 0

    @property
    def active_share(self) -> float:
        """The share of members with at least one confirmed deed (0 with no members)."""
        return self.active_members / self.members if self.members else 0.0


def branch_activities(
    session: Session,
    scope: Scope,
    year: int,
    start: datetime,
    end: datetime,
    names: dict[int, str],
) -> list[BranchActivity]:
    """Per branch the scope sees: members, those with a confirmed deed, deeds per item, tips
    approved and their listens, the spread of current ratings and the exemplary marks."""
    rows = {bid: BranchActivity(bid, names.get(bid, "")) for bid in scope.branch_ids}
    members = select(Member.id).where(scope.member_clause(), Member.active.is_(True))
    for bid, n in session.execute(
        select(Member.branch_id, func.count())
        .where(scope.member_clause(), Member.active.is_(True))
        .group_by(Member.branch_id)
    ).all():
        if bid in rows:
            rows[bid].members = int(n)
    confirmed = and_(
        Deed.status == DeedStatus.CONFIRMED,
        Deed.created_at >= start,
        Deed.created_at < end,
        Deed.member_id.in_(members),
    )
    for bid, item, n, listens in session.execute(
        select(Member.branch_id, Deed.item, func.count(), func.coalesce(func.sum(Deed.listens), 0))
        .select_from(Deed)
        .join(Member, Member.id == Deed.member_id)
        .where(confirmed)
        .group_by(Member.branch_id, Deed.item)
    ).all():
        if bid not in rows:
            continue
        rows[bid].deeds[int(item)] = int(n)
        if item == TIP_ITEM:
            rows[bid].tips, rows[bid].tip_listens = int(n), int(listens)
    for bid, n in session.execute(
        select(Member.branch_id, func.count(func.distinct(Deed.member_id)))
        .select_from(Deed)
        .join(Member, Member.id == Deed.member_id)
        .where(confirmed)
        .group_by(Member.branch_id)
    ).all():
        if bid in rows:
            rows[bid].active_members = int(n)
    for bid, grade, n in session.execute(
        select(Member.branch_id, MemberRating.grade, func.count())
        .select_from(MemberRating)
        .join(Member, Member.id == MemberRating.member_id)
        .where(
            MemberRating.year == year,
            MemberRating.superseded_at.is_(None),
            MemberRating.member_id.in_(members),
        )
        .group_by(Member.branch_id, MemberRating.grade)
    ).all():
        if bid in rows:
            rows[bid].grades[Grade(grade).value] = int(n)
    for bid, n in session.execute(
        select(Member.branch_id, func.count())
        .select_from(Exemplar)
        .join(Member, Member.id == Exemplar.member_id)
        .where(Exemplar.year == year, Exemplar.member_id.in_(members))
        .group_by(Member.branch_id)
    ).all():
        if bid in rows:
            rows[bid].exemplars = int(n)
    return sorted(rows.values(), key=lambda r: r.name)


def exemplar_members(session: Session, scope: Scope, year: int) -> list[tuple[Member, Exemplar]]:
    """The members the scope sees marked exemplary (树形象) for a year, by branch."""
    return [
        (member, mark)
        for member, mark in session.execute(
            select(Member, Exemplar)
            .join(Exemplar, Exemplar.member_id == Member.id)
            .where(Exemplar.year == year, scope.member_clause())
            .order_by(Member.branch_id, Member.name)
        ).all()
    ]


__all__ = [
    "ITEMS",
    "BranchActivity",
    "Contribution",
    "branch_activities",
    "contributions",
    "exemplar_members",
    "exemplars",
    "member_deeds",
    "tips_board",
    "visible_deed",
    "waiting_count",
    "waiting_deeds",
]
