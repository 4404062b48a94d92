"""Who a broadcast or lesson campaign reaches: an organisation's members, narrowed by filters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, column, exists, func, select, table
from sqlalchemy.orm import Session

from models.member import Member
from models.numbers import parse_int
from models.org import Organization, OrgKind, subtree_ids
from models.report import NonReporter, Report

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# models.survey's recipients, named here as a plain table: models.survey imports this module
# (BilingualError), so importing its classes here would make a cycle.
_SURVEY_RECIPIENTS = table(
    "survey_recipients", column("survey_id"), column("member_id"), column("started_at")
)
_SURVEYS = table("surveys", column("id"))


class BilingualError(ValueError):
    """A domain error whose message is shown to a user: Chinese first, then English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


class TargetError(BilingualError):
    """A target names something that does not exist, or is malformed."""


@dataclass(frozen=True)
class Target:
    """A resolved target: ids and values; an empty filter does not narrow."""

    branch_ids: tuple[int, ...] = ()
    host_ids: tuple[int, ...] = ()
    cities: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    nonreporters: str | None = None
    # Members an earlier survey was sent to who have not answered any of its questions.
    survey_nonresponders: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The form stored in a broadcast's or campaign's `target` column."""
        return {
            "branches": list(self.branch_ids),
            "hosts": list(self.host_ids),
            "cities": list(self.cities),
            "industries": list(self.industries),
            "nonreporters": self.nonreporters,
            "survey_nonresponders": self.survey_nonresponders,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Target:
        """Read a stored target back (ids, as `as_dict` wrote them)."""
        data = data or {}
        return cls(
            branch_ids=tuple(int(i) for i in data.get("branches") or ()),
            host_ids=tuple(int(i) for i in data.get("hosts") or ()),
            cities=tuple(data.get("cities") or ()),
            industries=tuple(data.get("industries") or ()),
            nonreporters=data.get("nonreporters") or None,
            survey_nonresponders=parse_int(data.get("survey_nonresponders")),
        )


def _names(values: Any) -> list[Any]:
    if values is None:
        return []
    if isinstance(values, str | int):
        values = [values]
    cleaned = []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        cleaned.append(value)
    return cleaned


def _find(session: Session, ref: Any, kinds: tuple[OrgKind, ...]) -> Organization | None:
    org_id = parse_int(ref)
    if org_id is not None:
        org = session.get(Organization, org_id)
    else:
        org = session.scalar(select(Organization).where(Organization.name == str(ref)))
    return org if org is not None and org.kind in kinds else None


def resolve_target(session: Session, org: Organization, spec: dict[str, Any] | None) -> Target:
    """Check a target given by names (or ids) against the organisation's tree; ids out.

    Keys: branches, hosts, cities, industries (lists), nonreporters (YYYY-MM) and
    survey_nonresponders (a survey's id). Within a key any value matches; across keys every
    filter applies.
    """
    spec = spec or {}
    known = {"branches", "hosts", "cities", "industries", "nonreporters", "survey_nonresponders"}
    unknown_keys = set(spec) - known
    if unknown_keys:
        raise TargetError(
            f"未知的目标条件:{', '.join(sorted(unknown_keys))}",
            f"Unknown target filters: {', '.join(sorted(unknown_keys))}",
        )
    scope = set(subtree_ids(session, org.id))
    branch_ids: list[int] = []
    for ref in _names(spec.get("branches")):
        branch = _find(session, ref, (OrgKind.BRANCH, OrgKind.TOWNSHIP))
        if branch is None or branch.id not in scope:
            raise TargetError(f"未知支部:{ref}", f"Unknown branch: {ref}")
        branch_ids.append(branch.id)
    host_ids: list[int] = []
    for ref in _names(spec.get("hosts")):
        host = _find(session, ref, (OrgKind.HOST,))
        if host is None:
            raise TargetError(f"未知流入地党组织:{ref}", f"Unknown host organisation: {ref}")
        host_ids.append(host.id)
    base = select(Member.id).where(Member.branch_id.in_(sorted(scope)), Member.active.is_(True))
    cities = [str(c) for c in _names(spec.get("cities"))]
    for city in cities:
        if session.scalar(base.where(Member.city == city).limit(1)) is None:
            raise TargetError(f"没有成员在{city}", f"No member lives in {city}")
    industries = [str(i) for i in _names(spec.get("industries"))]
    for industry in industries:
        if session.scalar(base.where(Member.industry == industry).limit(1)) is None:
            raise TargetError(f"没有成员属于行业:{industry}", f"No member works in {industry}")
    period = spec.get("nonreporters") or None
    if period is not None and not PERIOD.match(str(period)):
        raise TargetError(
            f"月份格式应为YYYY-MM:{period}", f"The period must look like YYYY-MM: {period}"
        )
    survey_ref = spec.get("survey_nonresponders")
    survey_id = None
    if survey_ref not in (None, ""):
        survey_id = parse_int(survey_ref)
        found = (
            None
            if survey_id is None
            else session.scalar(select(_SURVEYS.c.id).where(_SURVEYS.c.id == survey_id))
        )
        if found is None:
            raise TargetError(f"未知问卷:{survey_ref}", f"Unknown survey: {survey_ref}")
    return Target(
        branch_ids=tuple(dict.fromkeys(branch_ids)),
        host_ids=tuple(dict.fromkeys(host_ids)),
        cities=tuple(dict.fromkeys(cities)),
        industries=tuple(dict.fromkeys(industries)),
        nonreporters=str(period) if period else None,
        survey_nonresponders=survey_id,
    )


def target_members(session: Session, org_id: int, target: Target) -> Select[int]:
    """A query of the ids of the active members the target reaches (not ordered)."""
    scope = subtree_ids(session, org_id)
    query = select(Member.id).where(Member.active.is_(True), Member.branch_id.in_(sorted(scope)))
    if target.branch_ids:
        branches: set[int] = set()
        for branch_id in target.branch_ids:
            branches.update(subtree_ids(session, branch_id))
        query = query.where(Member.branch_id.in_(sorted(branches)))
    if target.host_ids:
        query = query.where(Member.host_org_id.in_(target.host_ids))
    if target.cities:
        query = query.where(Member.city.in_(target.cities))
    if target.industries:
        query = query.where(Member.industry.in_(target.industries))
    if target.nonreporters:
        period = target.nonreporters
        closed = session.scalar(
            select(NonReporter.id)
            .where(NonReporter.period == period, NonReporter.branch_id.in_(sorted(scope)))
            .limit(1)
        )
        if closed is not None:
            # A closed period's non-reporters are fixed: a late report does not change them.
            query = query.where(
                exists().where(NonReporter.member_id == Member.id, NonReporter.period == period)
            )
        else:
            query = query.where(
                ~exists().where(Report.member_id == Member.id, Report.period == period)
            )
    if target.survey_nonresponders is not None:
        sent = _SURVEY_RECIPIENTS
        query = query.where(
            exists().where(
                sent.c.member_id == Member.id,
                sent.c.survey_id == target.survey_nonresponders,
                sent.c.started_at.is_(None),
            )
        )
    return query


def count_targeted(session: Session, org_id: int, target: Target) -> tuple[int, int]:
    """How many members the target reaches, and how many of them can be sent to now (one
    pass over the members)."""
    sendable = case(
        (and_(Member.opted_out_at.is_(None), Member.phone_invalid_at.is_(None)), 1), else_=0
    )
    query = target_members(session, org_id, target).with_only_columns(
        func.count(), func.coalesce(func.sum(sendable), 0)
    )
    row = session.execute(query).one()
    return int(row[0]), int(row[1])


def resolve_reachable(
    session: Session,
    org: Organization,
    spec: dict[str, Any] | None,
    error: type[BilingualError],
    nobody: tuple[str, str],
) -> tuple[Target, int, int]:
    """The resolved target, how many members it reaches and how many of them can be sent to
    now; `error` (with `nobody`, Chinese then English, when no member can be reached now)
    when it cannot be used."""
    try:
        resolved = resolve_target(session, org, spec)
    except TargetError as exc:
        raise error(exc.zh, exc.en) from None
    total, reachable = count_targeted(session, org.id, resolved)
    if reachable == 0:
        raise error(*nobody)
    return resolved, total, reachable


__all__ = [
    "BilingualError",
    "Target",
    "TargetError",
    "count_targeted",
    "resolve_reachable",
    "resolve_target",
    "target_members",
]
