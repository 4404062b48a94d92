"""The make-up training roster (春节补课): members flagged in a season."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models.makeup import MakeupFlag
from models.member import Member
from models.reads.common import PER_PAGE, Page, branch_clause, org_names, paginate
from models.scope import Scope


@dataclass(frozen=True)
class RosterRow:
    """A member flagged for make-up training in a season."""

    member: Member
    branch_name: str
    flag: MakeupFlag


def makeup_seasons(session: Session, scope: Scope) -> list[str]:
    """The seasons in which the scope's members were flagged, newest name first."""
    return list(
        session.scalars(
            select(MakeupFlag.season)
            .join(Member, Member.id == MakeupFlag.member_id)
            .where(scope.member_clause())
            .distinct()
            .order_by(MakeupFlag.season.desc())
        )
    )


def visible_flags(session: Session, scope: Scope, ids: Sequence[int]) -> list[MakeupFlag]:
    """Those of the given make-up flags that are on members the user may see."""
    if not ids:
        return []
    return list(
        session.scalars(
            select(MakeupFlag)
            .join(Member, Member.id == MakeupFlag.member_id)
            .where(MakeupFlag.id.in_(list(ids)), scope.member_clause())
        )
    )


def _roster_query(scope: Scope, season: str, branch_id: int | None) -> Select[MakeupFlag]:
    return (
        select(MakeupFlag)
        .join(Member, Member.id == MakeupFlag.member_id)
        .where(branch_clause(scope, branch_id), MakeupFlag.season == season)
        .order_by(Member.branch_id, Member.id)
    )


def makeup_roster(
    session: Session,
    scope: Scope,
    season: str,
    *,
    branch_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[RosterRow]:
    """One page of the members flagged for make-up training in a season."""
    flags = paginate(session, _roster_query(scope, season, branch_id), page, per_page)
    return Page(_roster_rows(session, flags.items), flags.page, flags.per_page, flags.total)


def iter_makeup_roster(
    session: Session, scope: Scope, season: str, *, branch_id: int | None = None
) -> Iterator[RosterRow]:
    """The whole roster of a season, for export, read a chunk at a time."""
    page = 1
    while True:
        chunk = makeup_roster(session, scope, season, branch_id=branch_id, page=page, per_page=500)
        yield from chunk.items
        if not chunk.has_next:
            return
        page += 1


def _roster_rows(session: Session, flags: list[MakeupFlag]) -> list[RosterRow]:
    members = {
        m.id: m
        for m in session.scalars(select(Member).where(Member.id.in_([f.member_id for f in flags])))
    }
    names = org_names(session, {m.branch_id for m in members.values()})
    return [
        RosterRow(members[f.member_id], names.get(members[f.member_id].branch_id, ""), f)
        for f in flags
        if f.member_id in members
    ]


__all__ = ["RosterRow", "iter_makeup_roster", "makeup_roster", "makeup_seasons", "visible_flags"]
