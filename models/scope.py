"""Which members and organisations an admin user may see.

A township user sees its whole tree, a branch user its branch (and anything below it), a
liaison only the members assigned to them, and a host organisation only the members
attached to it. Every admin query filters through a Scope.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, false, select
from sqlalchemy.orm import Session

from models.member import Member
from models.org import Organization, OrgKind, subtree_ids, township_of
from models.user import Role, User


def ids_in(column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """`column IN (ids)` with the ids written into the SQL rather than bound one by one.

    A township has hundreds of branches. Hundreds of bound parameters cost PostgreSQL more to
    bind and plan than the query takes, and once the driver prepares the statement the
    generic plan cannot see which ids it filters on; integers from our own rows are safe
    to inline.
    """
    values = sorted(int(i) for i in ids)
    parameter: BindParameter[list[int]] = bindparam(
        "ids", values, expanding=True, literal_execute=True, unique=True
    )
    result: ColumnElement[bool] = column.in_(parameter)
    return result


@dataclass(frozen=True)
class Scope:
    """What one user may see: a role, its organisation's subtree and the time zone of periods."""

    user_id: int
    role: Role
    org_id: int
    org_ids: frozenset[int]
    branch_ids: tuple[int, ...]
    township_id: int
    timezone: str

    def within(self, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
        """`column IN ids`, the ids written into the SQL (see ids_in)."""
        return ids_in(column, ids)

    def member_clause(self) -> ColumnElement[bool]:
        """A WHERE clause on Member keeping only the members this user may see."""
        if self.role is Role.LIAISON:
            return Member.liaison_id == self.user_id
        if self.role is Role.HOST:
            return self.within(Member.host_org_id, self.org_ids)
        if not self.branch_ids:
            return false()
        return self.within(Member.branch_id, self.branch_ids)

    def sees_member(self, member: Member) -> bool:
        """Whether this user may see one member (the same rule as member_clause)."""
        if self.role is Role.LIAISON:
            return member.liaison_id == self.user_id
        if self.role is Role.HOST:
            return member.host_org_id in self.org_ids
        return member.branch_id in self.branch_ids

    @property
    def sees_strangers(self) -> bool:
        """Whether this user sees texts and recordings from numbers on no member's record.

        Township users only: an inbound row keeps just the sender's number (every township
        shares the gateway's number), so nothing ties a stranger to a branch, and a branch
        sees no one but its own members. The township office registers people and links a
        stranger's number to one of its own members.
        """
        return self.role is Role.TOWNSHIP

    def sees_org(self, org_id: int | None) -> bool:
        """Whether an organisation is this user's own or below it."""
        return org_id is not None and org_id in self.org_ids

    @property
    def is_township(self) -> bool:
        """A township office user."""
        return self.role is Role.TOWNSHIP

    @property
    def key(self) -> str:
        """A short stable text naming what this scope covers (for caches and audit details)."""
        if self.role is Role.LIAISON:
            return f"liaison:{self.user_id}"
        return f"{self.role.value}:{self.org_id}"


def scope_for(session: Session, user: User) -> Scope:
    """The scope of a user: its organisation's subtree, and the branches in it."""
    org_ids = frozenset(subtree_ids(session, user.org_id))
    branch_ids: tuple[int, ...] = ()
    if user.role in (Role.TOWNSHIP, Role.BRANCH, Role.LIAISON):
        branch_ids = tuple(
            session.scalars(
                select(Organization.id)
                .where(Organization.id.in_(sorted(org_ids)), Organization.kind == OrgKind.BRANCH)
                .order_by(Organization.id)
            )
        )
    org = session.get(Organization, user.org_id)
    township = township_of(session, org) if org is not None else None
    return Scope(
        user_id=user.id,
        role=user.role,
        org_id=user.org_id,
        org_ids=org_ids,
        branch_ids=branch_ids,
        township_id=township.id if township is not None else user.org_id,
        timezone=(township.timezone if township is not None else None) or "Asia/Shanghai",
    )


def org_scope(session: Session, org: Organization) -> Scope:
    """What the township office sees of one organisation's tree (for commands run without a
    user: `flask review export`)."""
    org_ids = frozenset(subtree_ids(session, org.id))
    branch_ids = tuple(
        session.scalars(
            select(Organization.id)
            .where(Organization.id.in_(sorted(org_ids)), Organization.kind == OrgKind.BRANCH)
            .order_by(Organization.id)
        )
    )
    township = township_of(session, org)
    return Scope(
        user_id=0,
        role=Role.TOWNSHIP,
        org_id=org.id,
        org_ids=org_ids,
        branch_ids=branch_ids,
        township_id=township.id if township is not None else org.id,
        timezone=(township.timezone if township is not None else None) or "Asia/Shanghai",
    )


def visible_branches(session: Session, scope: Scope) -> list[Organization]:
    """The branches a user may filter by, in name order."""
    if not scope.branch_ids:
        return []
    return list(
        session.scalars(
            select(Organization)
            .where(scope.within(Organization.id, scope.branch_ids))
            .order_by(Organization.name)
        )
    )


def visible_users(session: Session, scope: Scope) -> list[User]:
    """The users of this scope's organisations (for assigning help requests, the audit log)."""
    return list(
        session.scalars(
            select(User)
            .where(scope.within(User.org_id, scope.org_ids), User.active.is_(True))
            .order_by(User.username)
        )
    )


__all__ = ["Scope", "ids_in", "org_scope", "scope_for", "visible_branches", "visible_users"]
