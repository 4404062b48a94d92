"""Factories for test rows: small functions with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from models import Member, Organization, OrgKind, Role, User
from models.notice import NoticeChannel, record_notice
from models.user import set_password

_seq = itertools.count(1)


def make_org(
    session: Session,
    name: str | None = None,
    kind: OrgKind = OrgKind.BRANCH,
    parent: Organization | None = None,
    **extra: Any,
) -> Organization:
    """An organisation (a branch by default)."""
    org = Organization(
        name=name or f"组织{next(_seq)}",
        kind=kind,
        parent_id=parent.id if parent else None,
        **extra,
    )
    session.add(org)
    session.flush()
    return org


def make_tree(session: Session) -> tuple[Organization, Organization, Organization]:
    """A township with two branches."""
    township = make_org(session, "青山镇", OrgKind.TOWNSHIP)
    first = make_org(session, "东村党支部", OrgKind.BRANCH, township)
    second = make_org(session, "西村党支部", OrgKind.BRANCH, township)
    return township, first, second


ON_REGISTER_SINCE = datetime(2025, 1, 1, tzinfo=UTC)


def make_member(
    session: Session,
    branch: Organization | None = None,
    phone: str | None = None,
    *,
    notified: bool = True,
    **extra: Any,
) -> Member:
    """A member of a branch, with a unique mainland mobile number, on the register since
    2025 (so due to report in every month a test plays) unless `created_at` says otherwise;
    told what is kept when registered (so no privacy notice precedes their first text)
    unless `notified=False`."""
    if branch is None:
        branch = make_org(session)
    number = next(_seq)
    member = Member(
        name=extra.pop("name", f"张{number}"),
        phone=phone or f"+86138{number:08d}",
        branch_id=branch.id,
        city=extra.pop("city", "广州"),
        employer=extra.pop("employer", "电子厂"),
        created_at=extra.pop("created_at", ON_REGISTER_SINCE),
        **extra,
    )
    session.add(member)
    session.flush()
    if notified:
        record_notice(session, member.id, NoticeChannel.REGISTER, member.created_at)
        session.flush()
    return member


def make_user(
    session: Session,
    org: Organization,
    role: Role = Role.BRANCH,
    username: str | None = None,
    password: str = "password123",
) -> User:
    """An admin user with a role in an organisation."""
    user = User(username=username or f"user{next(_seq)}", role=role, org_id=org.id)
    set_password(user, password)
    session.add(user)
    session.flush()
    return user


def open_window_now(township: Organization) -> None:
    """Give a township a contact window from an hour before the real time to two hours after
    (quiet hours the rest of the day), so work done at the real clock may text its members."""
    local = datetime.now(ZoneInfo(township.timezone or "Asia/Shanghai"))
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    township.settings = {
        **(township.settings or {}),
        "contact_window": [start, end],
        "quiet_hours": [end, start],
    }
