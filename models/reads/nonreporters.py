"""The non-reporters page: members who missed months of a range, with their lesson record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CompoundSelect, Select, String, exists, func, literal, select, union_all
from sqlalchemy.orm import Session

from models.cycle import due_in_period, is_due
from models.lesson import CampaignMember, CampaignMemberStatus, LessonCampaign
from models.makeup import MakeupFlag
from models.member import Member
from models.period import period_bounds
from models.reads.common import (
    PER_PAGE,
    Page,
    branch_clause,
    current_period,
    listens_by_member,
    org_names,
    page_number,
)
from models.report import NonReporter, Report
from models.scope import Scope
from models.user import Role


@dataclass(frozen=True)
class NonReporterRow:
    """A member who missed months in a range, with their lesson record over it."""

    member: Member
    branch_name: str
    missed: int
    due: int  # months of the range that ended and the member was due in (`is_due`)
    not_studied: int
    lessons_listened: int
    lessons_missed: int  # lesson campaigns whose every call the member missed
    flag: MakeupFlag | None


def _fixed_periods(session: Session, scope: Scope, periods: Sequence[str]) -> set[str]:
    """Periods whose non-reporters were fixed when they closed (for this scope's branches)."""
    if not scope.branch_ids or scope.role not in (Role.TOWNSHIP, Role.BRANCH):
        return set()
    # One round trip: a cheap EXISTS probe per period, on the period's first index entries.
    probes = [
        select(literal(period, String).label("period")).where(
            exists().where(
                NonReporter.period == period, scope.within(NonReporter.branch_id, scope.branch_ids)
            )
        )
        for period in periods
    ]
    return set(session.scalars(union_all(*probes) if len(probes) > 1 else probes[0]))


def _missed_rows(
    session: Session, scope: Scope, periods: Sequence[str], branch_id: int | None
) -> Select[int] | CompoundSelect[int] | None:
    """One row per (member, month missed): fixed non-reporters of closed periods, and members
    due with no report in periods never closed (a gap in the cycle)."""
    fixed = _fixed_periods(session, scope, periods)
    parts: list[Select[int]] = []
    if fixed:
        branches = [b for b in scope.branch_ids if branch_id is None or b == branch_id]
        parts.append(
            select(NonReporter.member_id.label("member_id")).where(
                NonReporter.period.in_(sorted(fixed)), scope.within(NonReporter.branch_id, branches)
            )
        )
    for period in periods:
        if period in fixed:
            continue
        start, _ = period_bounds(period, scope.timezone)
        parts.append(
            select(Member.id.label("member_id")).where(
                branch_clause(scope, branch_id),
                Member.active.is_(True),
                due_in_period(start),
                ~exists().where(Report.member_id == Member.id, Report.period == period),
            )
        )
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _ended(scope: Scope, periods: Sequence[str], now: datetime | None = None) -> list[str]:
    """The periods of a range that have ended (neither the running month nor a later one)."""
    running = current_period(scope, now)
    return [p for p in periods if p < running]


def non_reporters(
    session: Session,
    scope: Scope,
    periods: Sequence[str],
    *,
    min_missed: int = 1,
    branch_id: int | None = None,
    season: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
) -> Page[NonReporterRow]:
    """Members who missed at least `min_missed` months of the range, most missed first.

    Each row also carries the months reported without study, the lessons listened to and
    the lesson calls missed over the range, and the member's make-up flag for `season`.
    """
    page = page_number(page)
    ended = _ended(scope, periods, now)
    rows_query = _missed_rows(session, scope, ended, branch_id) if ended else None
    if rows_query is None:
        return Page([], page, per_page, 0)
    missed_rows = rows_query.subquery()
    missed = func.count().label("missed")
    # Grouping on `member_id + 0` keeps SQLite from walking the whole (member, period) unique
    # index for its order; it reads the covering (period, branch, member) index range instead.
    member = missed_rows.c.member_id + 0
    ranked = session.execute(
        select(member.label("member_id"), missed, func.count().over().label("total"))
        .group_by(member)
        .having(func.count() >= max(1, min_missed))
        .order_by(missed.desc(), member)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if not ranked:
        total = 0
        if page > 1:
            total = (
                session.scalar(
                    select(func.count()).select_from(
                        select(member)
                        .group_by(member)
                        .having(func.count() >= max(1, min_missed))
                        .subquery()
                    )
                )
                or 0
            )
        return Page([], page, per_page, total)
    total = int(ranked[0].total)
    counts = {row.member_id: int(row.missed) for row in ranked}
    items = _non_reporter_rows(session, scope, periods, counts, season, now)
    return Page(items, page, per_page, total)


def _non_reporter_rows(
    session: Session,
    scope: Scope,
    periods: Sequence[str],
    counts: dict[int, int],
    season: str,
    now: datetime | None,
) -> list[NonReporterRow]:
    """Details for a page of non-reporters, in the order of `counts`."""
    ids = list(counts)
    members = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(ids)))}
    start, _ = period_bounds(periods[0], scope.timezone)
    _, end = period_bounds(periods[-1], scope.timezone)
    not_studied = dict(
        session.execute(
            select(Report.member_id, func.count())
            .where(
                Report.member_id.in_(ids),
                Report.period.in_(list(periods)),
                Report.studied.is_(False),
            )
            .group_by(Report.member_id)
        ).all()
    )
    listened = listens_by_member(session, ids, start, end)
    # Campaigns are few: probing (campaign, member) on their unique index stays cheap.
    lesson_missed = dict(
        session.execute(
            select(CampaignMember.member_id, func.count())
            .join(LessonCampaign, LessonCampaign.id == CampaignMember.campaign_id)
            .where(
                LessonCampaign.created_at >= start,
                LessonCampaign.created_at < end,
                CampaignMember.member_id.in_(ids),
                CampaignMember.status == CampaignMemberStatus.MISSED,
            )
            .group_by(CampaignMember.member_id)
        ).all()
    )
    flags: dict[int, MakeupFlag] = {}
    if season:
        flags = {
            f.member_id: f
            for f in session.scalars(
                select(MakeupFlag).where(MakeupFlag.member_id.in_(ids), MakeupFlag.season == season)
            )
        }
    names = org_names(session, {m.branch_id for m in members.values()})
    ended = _ended(scope, periods, now)
    return [
        NonReporterRow(
            member=members[mid],
            branch_name=names.get(members[mid].branch_id, ""),
            missed=counts[mid],
            due=sum(
                is_due(members[mid].created_at, period_bounds(p, scope.timezone)[0]) for p in ended
            ),
            not_studied=int(not_studied.get(mid, 0)),
            lessons_listened=int(listened.get(mid, 0)),
            lessons_missed=int(lesson_missed.get(mid, 0)),
            flag=flags.get(mid),
        )
        for mid in ids
        if mid in members
    ]


__all__ = ["NonReporterRow", "non_reporters"]
