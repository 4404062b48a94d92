"""The organisation tree: townships, their branches, and host organisations."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.base import Base, enum_type


class OrgKind(enum.StrEnum):
    """What an organisation is in the tree."""

    TOWNSHIP = "township"
    BRANCH = "branch"
    HOST = "host"


class HostKind(enum.StrEnum):
    """What a host organisation is."""

    MIGRANT_BRANCH = "migrant_branch"  # 流动党员党支部
    JOINT_INDUSTRY = "joint_industry"  # 行业联合党支部
    COMMUNITY = "community"  # 社区党委


DEFAULT_SETTINGS: dict[str, Any] = {
    # Escalation days of the monthly cycle: reminder, second reminder, IVR call, liaison task.
    "escalation_days": {"reminder": 1, "second_reminder": 5, "ivr_call": 10, "liaison_task": 15},
    "contact_window": ["19:00", "21:30"],
    "quiet_hours": ["21:30", "08:00"],
    # Month-day ranges with no lesson calls, e.g. the harvest: [["09-20", "10-10"]].
    "busy_seasons": [],
}


class Organization(Base):
    """A township, a village branch, or a host organisation in the member's city."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[OrgKind] = mapped_column(enum_type(OrgKind), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # For hosts: migrant branch, joint industry branch or community.
    host_kind: Mapped[HostKind | None] = mapped_column(enum_type(HostKind, 32))
    city: Mapped[str | None] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)

    parent: Mapped[Organization | None] = relationship(remote_side=[id], lazy="raise_on_sql")

    def setting(self, key: str) -> Any:
        """This organisation's value for a setting, or the default."""
        return (self.settings or {}).get(key, DEFAULT_SETTINGS.get(key))


def subtree_ids(session: Session, org_id: int) -> list[int]:
    """The id of an organisation and of every organisation below it."""
    rows = session.execute(select(Organization.id, Organization.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for oid, parent in rows:
        children.setdefault(parent, []).append(oid)
    found, stack = [], [org_id]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def township_of(session: Session, org: Organization) -> Organization:
    """The township an organisation belongs to (itself if it is one)."""
    current = org
    for _ in range(10):
        if current.kind is OrgKind.TOWNSHIP or current.parent_id is None:
            return current
        parent = session.get(Organization, current.parent_id)
        if parent is None:
            return current
        current = parent
    return current


def township_settings(session: Session, org_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The settings of each organisation's township (as township_of finds it), read a level
    at a time for all of them: a batch of rows from many branches costs a query or two."""
    found: dict[int, dict[str, Any]] = {}
    # Each asked-for id, with the organisation reached so far on its way up.
    climbing = {org_id: org_id for org_id in set(org_ids)}
    known: dict[int, Any] = {}
    for _ in range(10):
        wanted = {at for at in climbing.values() if at not in known}
        if wanted:
            for row in session.execute(
                select(
                    Organization.id,
                    Organization.kind,
                    Organization.parent_id,
                    Organization.settings,
                ).where(Organization.id.in_(wanted))
            ):
                known[row.id] = row
        for org_id, at in list(climbing.items()):
            if at not in known:  # no such organisation: nothing to read
                del climbing[org_id]
                continue
            row = known[at]
            if row.kind is OrgKind.TOWNSHIP or row.parent_id is None:
                found[org_id] = row.settings or {}
                del climbing[org_id]
            else:
                climbing[org_id] = row.parent_id
        if not climbing:
            return found
    for org_id, at in climbing.items():  # deeper than township_of looks: where it stops
        found[org_id] = (known[at].settings if at in known else None) or {}
    return found


def find_org(session: Session, name: str) -> Organization | None:
    """The organisation with this exact name."""
    return session.scalar(select(Organization).where(Organization.name == name.strip()))
