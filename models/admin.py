"""Read-side queries for the admin pages, each scoped to what the user may see.

They are written for a township of 100,000 members with years of reports: counts are
aggregate SQL over the existing indexes, lists are paginated, and the trend chart reads
per-branch tallies of settled periods instead of every report again.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.audit import AuditAction, AuditLog
from models.base import utcnow
from models.broadcast import Broadcast
from models.call import Call, Recording
from models.contact import ContactKind, ContactLog
from models.cycle import due_in_period, is_due
from models.help import HelpCategory, HelpNote, HelpRequest, HelpStatus
from models.lesson import (
    CampaignMember,
    CampaignMemberStatus,
    Lesson,
    LessonCampaign,
    LessonListen,
)
from models.makeup import MakeupFlag
from models.member import ChangeField, Member, MemberChange
from models.message import Direction, Message
from models.org import Organization, OrgKind, subtree_ids
from models.period import Period, parse_period, period_bounds, period_of, shift_period
from models.rating import MemberRating
from models.report import NonReporter, Report, ReportTally
from models.scope import Scope
from models.user import Role, User

T = TypeVar("T")

# The longest range a page may ask for: two years of months.
MAX_PERIODS = 24
# A period's figures settle a week after it ends: a reply to a reminder may still arrive
# for it (SMS questions stay open 72 hours), after that late reports are rare.
SETTLE_DAYS = 7
PER_PAGE = 50
NOTICE_REPLIES_SHOWN = 100  # the newest replies on a notice's page; the rest are counted


# --- periods ---------------------------------------------------------------------------


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


def is_settled(period: str, timezone: str, now: datetime) -> bool:
    """Whether a period ended long enough ago that its figures no longer move."""
    return now >= period_bounds(period, timezone)[1] + timedelta(days=SETTLE_DAYS)


# --- pages -----------------------------------------------------------------------------


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


def _page_number(page: int) -> int:
    return max(1, page)


def _paginate(session: Session, query: Select[T], page: int, per_page: int) -> Page[T]:
    """Run a query for one page, with the total count of the whole list."""
    page = _page_number(page)
    # Counting with the page's FROM and WHERE but no columns: no subquery to materialise.
    counter = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    total = session.scalar(counter) or 0
    items = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, per_page, total)


def _branch_clause(scope: Scope, branch_id: int | None) -> ColumnElement[bool]:
    """The scope's members, narrowed to one branch when asked (a branch outside: nobody)."""
    clause = scope.member_clause()
    if branch_id is not None:
        clause = and_(clause, Member.branch_id == branch_id)
    return clause


def member_scope(scope: Scope, branch_id: int | None = None) -> ColumnElement[bool]:
    """The members a user may see, narrowed to one branch when asked (for exports)."""
    return _branch_clause(scope, branch_id)


# --- dashboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchRate:
    """A branch's reporting figures for one period."""

    branch_id: int
    name: str
    members: int
    reported: int
    studied: int

    @property
    def rate(self) -> float:
        """Share of the branch's members who reported (0 with no members)."""
        return self.reported / self.members if self.members else 0.0


@dataclass(frozen=True)
class TrendPoint:
    """The scope's reporting figures for one period of the trend chart."""

    period: str
    members: int
    reported: int
    studied: int
    running: bool = False  # the period still under way: its figures are not final

    @property
    def rate(self) -> float:
        """Share of members who reported (0 with no members)."""
        return self.reported / self.members if self.members else 0.0

    @property
    def studied_rate(self) -> float:
        """Share of members who reported having studied."""
        return self.studied / self.members if self.members else 0.0


def _studied_sum() -> ColumnElement[int]:
    return func.coalesce(func.sum(case((Report.studied.is_(True), 1), else_=0)), 0)


def _live_branch_figures(
    session: Session, clause: ColumnElement[bool], period: str, timezone: str
) -> dict[int, tuple[int, int, int]]:
    """Members, reporters and studiers per branch for a period, from the live tables.

    Only members due in the period count (`models.cycle.due_in_period`): a month before a
    member was registered, or the month of registration after its first day, is no missed
    month.
    """
    start, _ = period_bounds(period, timezone)
    rows = session.execute(
        select(
            Member.branch_id,
            func.count(Member.id),
            func.count(Report.id),
            _studied_sum(),
        )
        .select_from(Member)
        .outerjoin(Report, and_(Report.member_id == Member.id, Report.period == period))
        .where(clause, Member.active.is_(True), due_in_period(start))
        .group_by(Member.branch_id)
    ).all()
    return {branch: (members, reported, studied) for branch, members, reported, studied in rows}


def branch_rates(
    session: Session,
    scope: Scope,
    period: str,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    figures: dict[int, tuple[int, int, int]] | None = None,
) -> Page[BranchRate]:
    """Each branch's reporting rate for a period, lowest rate first (those needing a call)."""
    if figures is None:
        figures = _live_branch_figures(session, scope.member_clause(), period, scope.timezone)
    figures = dict(figures)
    names = dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(list(figures)))
        ).all()
    )
    if scope.role in (Role.TOWNSHIP, Role.BRANCH):
        # Branches with no members yet still belong on the table.
        for branch_id, name in session.execute(
            select(Organization.id, Organization.name).where(
                scope.within(Organization.id, scope.branch_ids)
            )
        ).all():
            names.setdefault(branch_id, name)
            figures.setdefault(branch_id, (0, 0, 0))
    rates = sorted(
        (BranchRate(b, names.get(b, str(b)), *figures[b]) for b in figures),
        key=lambda r: (r.rate, r.name),
    )
    page = _page_number(page)
    start = (page - 1) * per_page
    return Page(rates[start : start + per_page], page, per_page, len(rates))


def _missing_tallies(session: Session, scope: Scope, periods: Sequence[str]) -> list[str]:
    if not periods:
        return []
    done = set(
        session.scalars(
            select(ReportTally.period)
            .where(
                ReportTally.period.in_(list(periods)),
                scope.within(ReportTally.branch_id, scope.branch_ids),
            )
            .distinct()
        )
    )
    return [p for p in periods if p not in done]


def refresh_tallies(session: Session, periods: Sequence[str], timezone: str) -> int:
    """Count every branch's figures for settled periods into report_tallies; rows written.

    Safe to call from two places at once: a period another request wrote first is kept.
    """
    written = 0
    for period in periods:
        figures = _live_branch_figures(session, true(), period, timezone)
        try:
            with session.begin_nested():
                session.execute(delete(ReportTally).where(ReportTally.period == period))
                for branch_id, (members, reported, studied) in figures.items():
                    session.add(
                        ReportTally(
                            period=period,
                            branch_id=branch_id,
                            members=members,
                            reported=reported,
                            studied=studied,
                        )
                    )
                session.flush()
        except IntegrityError:
            continue
        written += len(figures)
    return written


def reporting_trend(
    session: Session,
    scope: Scope,
    periods: Sequence[str],
    *,
    now: datetime | None = None,
    live: dict[str, dict[int, tuple[int, int, int]]] | None = None,
) -> list[TrendPoint]:
    """The scope's reporting figures for each period, oldest first.

    Settled periods come from the per-branch tallies (computed once, on first need);
    the running period and the one just ended are counted live (or taken from `live`,
    per-branch figures the caller already counted).
    """
    now = now or utcnow()
    live = live or {}
    totals: dict[str, tuple[int, int, int]] = {}
    by_branch = scope.role in (Role.TOWNSHIP, Role.BRANCH)
    settled = [p for p in periods if by_branch and is_settled(p, scope.timezone, now)]
    if settled and scope.branch_ids:
        missing = _missing_tallies(session, scope, settled)
        if missing:
            refresh_tallies(session, missing, scope.timezone)
        rows = session.execute(
            select(
                ReportTally.period,
                func.sum(ReportTally.members),
                func.sum(ReportTally.reported),
                func.sum(ReportTally.studied),
            )
            .where(
                ReportTally.period.in_(settled),
                scope.within(ReportTally.branch_id, scope.branch_ids),
            )
            .group_by(ReportTally.period)
        ).all()
        totals.update({p: (int(m), int(r), int(s)) for p, m, r, s in rows})
    for period in periods:
        if period in settled:
            continue
        figures = live.get(period) or _live_branch_figures(
            session, scope.member_clause(), period, scope.timezone
        )
        totals[period] = (
            sum(f[0] for f in figures.values()),
            sum(f[1] for f in figures.values()),
            sum(f[2] for f in figures.values()),
        )
    running = current_period(scope, now)
    return [TrendPoint(p, *totals.get(p, (0, 0, 0)), running=p == running) for p in periods]


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows."""

    period: str
    registered: int  # active members in the scope, due this month or not yet
    rates: Page[BranchRate]
    totals: TrendPoint
    trend: list[TrendPoint]
    open_help: list[HelpRequest]
    open_help_count: int
    unmatched: list[Message]
    unmatched_count: int


def dashboard(
    session: Session, scope: Scope, *, page: int = 1, now: datetime | None = None
) -> Dashboard:
    """This period's rate per branch, the 12-month trend, open help and unmatched messages."""
    now = now or utcnow()
    period = current_period(scope, now)
    figures = _live_branch_figures(session, scope.member_clause(), period, scope.timezone)
    rates = branch_rates(session, scope, period, page=page, figures=figures)
    periods = [shift_period(period, -i) for i in range(11, -1, -1)]
    trend = reporting_trend(session, scope, periods, now=now, live={period: figures})
    help_query = (
        select(HelpRequest)
        .join(Member, Member.id == HelpRequest.member_id)
        .where(scope.member_clause(), HelpRequest.status != HelpStatus.RESOLVED)
    )
    open_help = list(session.scalars(help_query.order_by(HelpRequest.created_at.desc()).limit(5)))
    open_help_count = session.scalar(select(func.count()).select_from(help_query.subquery())) or 0
    unmatched: list[Message] = []
    unmatched_count = 0
    if scope.sees_strangers:
        unmatched_query = select(Message).where(*_unmatched_where())
        unmatched = list(
            session.scalars(unmatched_query.order_by(Message.created_at.desc()).limit(5))
        )
        unmatched_count = (
            session.scalar(select(func.count()).select_from(unmatched_query.subquery())) or 0
        )
    registered = (
        session.scalar(
            select(func.count(Member.id)).where(scope.member_clause(), Member.active.is_(True))
        )
        or 0
    )
    return Dashboard(
        period=period,
        registered=registered,
        rates=rates,
        totals=trend[-1],
        trend=trend,
        open_help=open_help,
        open_help_count=open_help_count,
        unmatched=unmatched,
        unmatched_count=unmatched_count,
    )


# --- members ---------------------------------------------------------------------------


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
    clause = _branch_clause(scope, filters.branch_id)
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
    members = _paginate(session, query.order_by(Member.branch_id, Member.id), page, per_page)
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


@dataclass(frozen=True)
class MonthCell:
    """One month of a member's reporting record."""

    period: str
    state: str  # studied, reported, missing, running (month under way), before (not due)
    report: Report | None = None

    @property
    def month(self) -> str:
        """The month alone (03): the row of cells shows the year once."""
        return Period.parse(self.period).short()


@dataclass
class MemberFile:
    """Everything on a member's registration and tracking card."""

    member: Member
    branch: Organization | None
    host_org: Organization | None
    liaison: User | None
    changes: list[MemberChange]
    months: list[MonthCell]
    messages: list[Message]
    calls: list[Call]
    recordings: list[Recording]
    contacts: list[ContactLog]
    feedback: list[ContactLog]
    help_requests: list[HelpRequest]
    flags: list[MakeupFlag]
    authors: dict[int, str] = field(default_factory=dict)
    org_names: dict[str, str] = field(default_factory=dict)  # host org ids in the history


def _state(
    report: Report | None, period: str, created: datetime, timezone: str, running: str
) -> str:
    """A month of a member's record: reported (and studied or not), not due (registered after
    its first day), still under way, or missed."""
    if report is not None:
        return "studied" if report.studied else "reported"
    if not is_due(created, period_bounds(period, timezone)[0]):
        return "before"
    if period == running:
        return "running"
    return "missing"


def _listens_by_member(
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


def _member_rows(
    session: Session, model: type[T], member: Member, *order: Any, limit: int | None = None
) -> list[T]:
    """The member's rows of a table in the given order, at most `limit` of them."""
    table: Any = model  # every table passed here has a member_id column
    query = select(model).where(table.member_id == member.id).order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def member_file(
    session: Session, scope: Scope, member: Member, *, now: datetime | None = None
) -> MemberFile:
    """A member's file: details, history, 24 months of reports, messages, calls and contact."""
    now = now or utcnow()
    last = current_period(scope, now)
    periods = [shift_period(last, -i) for i in range(MAX_PERIODS - 1, -1, -1)]
    reports = {
        r.period: r
        for r in session.scalars(
            select(Report).where(Report.member_id == member.id, Report.period.in_(periods))
        )
    }
    months = [
        MonthCell(
            p, _state(reports.get(p), p, member.created_at, scope.timezone, last), reports.get(p)
        )
        for p in reversed(periods)
    ]
    contacts = _member_rows(
        session,
        ContactLog,
        member,
        ContactLog.contact_date.desc(),
        ContactLog.id.desc(),
        limit=100,
    )
    private = scope.role is not Role.HOST
    user_ids = {c.user_id for c in contacts if c.user_id} | (
        {member.liaison_id} if member.liaison_id else set()
    )
    authors = dict(
        session.execute(
            select(User.id, func.coalesce(User.display_name, User.username)).where(
                User.id.in_(user_ids)
            )
        ).all()
    )
    changes = _member_rows(
        session, MemberChange, member, MemberChange.changed_at.desc(), MemberChange.id.desc()
    )
    host_ids = {
        int(value)
        for change in changes
        if change.field is ChangeField.HOST_ORG
        for value in (change.old_value, change.new_value)
        if value and value.isdigit()
    }
    return MemberFile(
        member=member,
        branch=session.get(Organization, member.branch_id),
        host_org=session.get(Organization, member.host_org_id) if member.host_org_id else None,
        liaison=session.get(User, member.liaison_id) if member.liaison_id else None,
        changes=changes,
        months=months,
        messages=_member_rows(
            session, Message, member, Message.created_at.desc(), Message.id.desc(), limit=50
        )
        if private
        else [],
        calls=_member_rows(session, Call, member, Call.created_at.desc(), Call.id.desc(), limit=20)
        if private
        else [],
        recordings=_member_rows(
            session, Recording, member, Recording.created_at.desc(), Recording.id.desc(), limit=20
        )
        if private
        else [],
        contacts=[c for c in contacts if c.kind is not ContactKind.HOST_FEEDBACK],
        feedback=[c for c in contacts if c.kind is ContactKind.HOST_FEEDBACK],
        help_requests=_member_rows(session, HelpRequest, member, HelpRequest.created_at.desc())
        if private
        else [],
        flags=_member_rows(session, MakeupFlag, member, MakeupFlag.created_at.desc()),
        authors=authors,
        org_names={str(k): v for k, v in _org_names(session, host_ids).items()},
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


# --- reports grid ----------------------------------------------------------------------


@dataclass(frozen=True)
class GridRow:
    """One member's months on the reports grid."""

    member: Member
    branch_name: str
    cells: list[MonthCell]


def reports_grid(
    session: Session,
    scope: Scope,
    periods: Sequence[str],
    *,
    branch_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
) -> Page[GridRow]:
    """Members by months: studied, reported without study, missing, not due yet, or the
    month still under way; grouped by branch."""
    running = current_period(scope, now)
    query = (
        select(Member)
        .where(_branch_clause(scope, branch_id), Member.active.is_(True))
        .order_by(Member.branch_id, Member.id)
    )
    members = _paginate(session, query, page, per_page)
    ids = [m.id for m in members.items]
    reports: dict[tuple[int, str], Report] = {}
    if ids:
        for report in session.scalars(
            select(Report).where(Report.member_id.in_(ids), Report.period.in_(list(periods)))
        ):
            reports[(report.member_id, report.period)] = report
    names = _org_names(session, {m.branch_id for m in members.items})
    rows = [
        GridRow(
            member=m,
            branch_name=names.get(m.branch_id, ""),
            cells=[
                MonthCell(
                    p,
                    _state(reports.get((m.id, p)), p, m.created_at, scope.timezone, running),
                    reports.get((m.id, p)),
                )
                for p in periods
            ],
        )
        for m in members.items
    ]
    return Page(rows, members.page, members.per_page, members.total)


def _org_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(ids))
        ).all()
    )


# --- non-reporters ---------------------------------------------------------------------


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
                _branch_clause(scope, branch_id),
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
    page = _page_number(page)
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
    listened = _listens_by_member(session, ids, start, end)
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
    names = _org_names(session, {m.branch_id for m in members.values()})
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


def visible_member_ids(session: Session, scope: Scope, ids: Sequence[int]) -> list[int]:
    """Those of the given member ids the user may see."""
    if not ids:
        return []
    return list(
        session.scalars(select(Member.id).where(Member.id.in_(list(ids)), scope.member_clause()))
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
        .where(_branch_clause(scope, branch_id), MakeupFlag.season == season)
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
    flags = _paginate(session, _roster_query(scope, season, branch_id), page, per_page)
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
    names = _org_names(session, {m.branch_id for m in members.values()})
    return [
        RosterRow(members[f.member_id], names.get(members[f.member_id].branch_id, ""), f)
        for f in flags
        if f.member_id in members
    ]


# --- inbox -----------------------------------------------------------------------------


def _unmatched_where() -> list[ColumnElement[bool]]:
    return [
        Message.direction == Direction.IN,
        Message.handled.is_(False),
        Message.member_id.is_(None),
    ]


def _unhandled_texts(scope: Scope, linked: ColumnElement[bool]) -> Select[Message]:
    """Inbound texts of the scope's members not yet handled, newest first, further narrowed."""
    return (
        select(Message)
        .join(Member, Member.id == Message.member_id)
        .where(
            Message.direction == Direction.IN,
            Message.handled.is_(False),
            linked,
            scope.member_clause(),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
    )


def inbox_texts(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Message]:
    """Texts from the scope's members not yet handled, newest first."""
    return _paginate(
        session, _unhandled_texts(scope, Message.broadcast_id.is_(None)), page, per_page
    )


def inbox_recordings(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Recording]:
    """Recordings from the scope's members (and unknown callers) not yet handled."""
    mine = select(Member.id).where(scope.member_clause())
    who: ColumnElement[bool] = Recording.member_id.in_(mine)
    if scope.sees_strangers:
        who = or_(who, Recording.member_id.is_(None))
    query = (
        select(Recording)
        .where(Recording.handled.is_(False), who)
        .order_by(Recording.created_at.desc(), Recording.id.desc())
    )
    return _paginate(session, query, page, per_page)


@dataclass(frozen=True)
class UnmatchedNumber:
    """A number not on the register that texted us, with its latest message."""

    phone: str
    count: int
    last_at: datetime
    last_body: str


def unmatched_numbers(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[UnmatchedNumber]:
    """Numbers with unhandled texts from no registered member, latest first (none for a user
    who does not see strangers: Scope.sees_strangers)."""
    page = _page_number(page)
    if not scope.sees_strangers:
        return Page([], page, per_page, 0)
    grouped = (
        select(
            Message.phone,
            func.count().label("n"),
            func.max(Message.created_at).label("last_at"),
            func.max(Message.id).label("last_id"),
        )
        .where(*_unmatched_where())
        .group_by(Message.phone)
    )
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    rows = session.execute(
        grouped.order_by(func.max(Message.id).desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    bodies = dict(
        session.execute(
            select(Message.id, Message.body).where(Message.id.in_([r.last_id for r in rows]))
        ).all()
    )
    items = [UnmatchedNumber(r.phone, int(r.n), r.last_at, bodies.get(r.last_id, "")) for r in rows]
    return Page(items, page, per_page, total)


def unmatched_texts_of(
    session: Session, scope: Scope, phone: str, limit: int = 10
) -> list[Message]:
    """The latest unhandled texts from one unregistered number, newest first."""
    if not scope.sees_strangers:
        return []
    return list(
        session.scalars(
            select(Message)
            .where(*_unmatched_where(), Message.phone == phone)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    )


def unknown_recordings_of(
    session: Session, scope: Scope, phone: str, limit: int = 10
) -> list[Recording]:
    """The latest unhandled recordings an unknown caller left from one number, newest first."""
    if not scope.sees_strangers:
        return []
    return list(
        session.scalars(
            select(Recording)
            .where(
                Recording.phone == phone,
                Recording.member_id.is_(None),
                Recording.handled.is_(False),
            )
            .order_by(Recording.id.desc())
            .limit(limit)
        )
    )


def broadcast_replies(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Message]:
    """Texts members sent in reply to a notice, not yet handled, newest first.

    Which texts answer a notice is decided as they arrive (sms_flows.conversation); every other
    text of a member is in inbox_texts.
    """
    return _paginate(
        session, _unhandled_texts(scope, Message.broadcast_id.is_not(None)), page, per_page
    )


def inbox_counts(session: Session, scope: Scope) -> dict[str, int]:
    """How many items wait in each inbox tab, so none is overlooked for an empty one."""
    return {
        "texts": inbox_texts(session, scope, per_page=1).total,
        "recordings": inbox_recordings(session, scope, per_page=1).total,
        "unmatched": unmatched_numbers(session, scope, per_page=1).total,
        "replies": broadcast_replies(session, scope, per_page=1).total,
    }


def notice_replies(
    session: Session, scope: Scope, broadcast_id: int, *, limit: int = NOTICE_REPLIES_SHOWN
) -> tuple[list[Message], int]:
    """The newest texts of the scope's members that answer a notice, and how many there are."""
    query = (
        select(Message)
        .join(Member, Member.id == Message.member_id)
        .where(
            Message.direction == Direction.IN,
            Message.broadcast_id == broadcast_id,
            scope.member_clause(),
        )
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest = query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    return list(session.scalars(newest)), total


def broadcasts_by_id(session: Session, ids: set[int | None]) -> dict[int, Broadcast]:
    """Broadcasts by id, for naming the notice a reply answers."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {b.id: b for b in session.scalars(select(Broadcast).where(Broadcast.id.in_(wanted)))}


def visible_messages(session: Session, scope: Scope, ids: Sequence[int]) -> list[Message]:
    """Those of the given inbound texts the user may handle: their members', or unmatched."""
    if not ids:
        return []
    mine = select(Member.id).where(scope.member_clause())
    who: ColumnElement[bool] = Message.member_id.in_(mine)
    if scope.sees_strangers:
        who = or_(who, Message.member_id.is_(None))
    return list(
        session.scalars(
            select(Message).where(Message.id.in_(list(ids)), Message.direction == Direction.IN, who)
        )
    )


def visible_recordings(session: Session, scope: Scope, ids: Sequence[int]) -> list[Recording]:
    """Those of the given recordings the user may handle: their members', or unknown callers'."""
    if not ids:
        return []
    mine = select(Member.id).where(scope.member_clause())
    who: ColumnElement[bool] = Recording.member_id.in_(mine)
    if scope.sees_strangers:
        who = or_(who, Recording.member_id.is_(None))
    return list(session.scalars(select(Recording).where(Recording.id.in_(list(ids)), who)))


def members_by_id(session: Session, ids: set[int | None]) -> dict[int, Member]:
    """Members by id, for labelling rows of another table."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(wanted)))}


# --- help requests ---------------------------------------------------------------------


def help_requests(
    session: Session,
    scope: Scope,
    *,
    status: HelpStatus | None = None,
    category: HelpCategory | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[HelpRequest]:
    """The scope's help requests, filtered, oldest open first then newest closed."""
    query = (
        select(HelpRequest)
        .join(Member, Member.id == HelpRequest.member_id)
        .where(scope.member_clause())
    )
    if status is not None:
        query = query.where(HelpRequest.status == status)
    if category is not None:
        query = query.where(HelpRequest.category == category)
    query = query.order_by(
        case((HelpRequest.status == HelpStatus.RESOLVED, 1), else_=0),
        HelpRequest.created_at.desc(),
        HelpRequest.id.desc(),
    )
    return _paginate(session, query, page, per_page)


def visible_help_request(session: Session, scope: Scope, request_id: int) -> HelpRequest | None:
    """A help request of a member the user may see, else None."""
    request = session.get(HelpRequest, request_id)
    if request is None:
        return None
    member = session.get(Member, request.member_id)
    if member is None or not scope.sees_member(member):
        return None
    return request


def help_recordings(session: Session, request_id: int) -> list[Recording]:
    """What the member said on the phone for a help request, oldest first."""
    return list(
        session.scalars(
            select(Recording)
            .where(Recording.help_request_id == request_id)
            .order_by(Recording.created_at, Recording.id)
        )
    )


def help_notes(session: Session, request_id: int) -> list[HelpNote]:
    """A help request's notes, oldest first."""
    return list(
        session.scalars(
            select(HelpNote)
            .where(HelpNote.help_request_id == request_id)
            .order_by(HelpNote.created_at, HelpNote.id)
        )
    )


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


# --- yearly review ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    """One member's year for the yearly review (一年一评)."""

    member: Member
    branch_name: str
    reports: int
    studied: int
    lessons: int
    help_requests: int
    contacts: int
    home_visits: int
    feedback: int
    due: int = 12  # months of the year (so far) the member was due to report in
    rating: MemberRating | None = None
    rater: str = ""


UNRATED = "none"  # the review's rating filter for members not yet rated


def _rated(year: int, grade: str) -> ColumnElement[bool]:
    """Members whose current rating for the year is this grade (or who have none)."""
    current = select(MemberRating.member_id).where(
        MemberRating.year == year, MemberRating.superseded_at.is_(None)
    )
    if grade == UNRATED:
        return Member.id.not_in(current)
    return Member.id.in_(current.where(MemberRating.grade == grade))


def yearly_review(
    session: Session,
    scope: Scope,
    year: int,
    *,
    branch_id: int | None = None,
    grade: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[ReviewRow]:
    """Per member: the year's reports, lessons, help requests, contact log and rating.

    `grade` keeps the members with that current rating (UNRATED: those with none).
    """
    query = (
        select(Member)
        .where(_branch_clause(scope, branch_id), Member.active.is_(True))
        .order_by(Member.branch_id, Member.id)
    )
    if grade:
        query = query.where(_rated(year, grade))
    members = _paginate(session, query, page, per_page)
    return Page(
        _review_rows(session, scope, year, members.items),
        members.page,
        members.per_page,
        members.total,
    )


def iter_yearly_review(
    session: Session,
    scope: Scope,
    year: int,
    *,
    branch_id: int | None = None,
    grade: str | None = None,
) -> Iterator[ReviewRow]:
    """The whole review, for export, read a chunk at a time."""
    page = 1
    while True:
        chunk = yearly_review(
            session, scope, year, branch_id=branch_id, grade=grade, page=page, per_page=500
        )
        yield from chunk.items
        if not chunk.has_next:
            return
        page += 1


def _review_rows(
    session: Session, scope: Scope, year: int, members: list[Member]
) -> list[ReviewRow]:
    ids = [m.id for m in members]
    if not ids:
        return []
    periods = [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    start, _ = period_bounds(periods[0], scope.timezone)
    _, end = period_bounds(periods[-1], scope.timezone)
    reports = {
        mid: (int(n), int(s))
        for mid, n, s in session.execute(
            select(Report.member_id, func.count(), _studied_sum())
            .where(Report.member_id.in_(ids), Report.period.in_(periods))
            .group_by(Report.member_id)
        ).all()
    }
    lessons = _listens_by_member(session, ids, start, end)
    helps = dict(
        session.execute(
            select(HelpRequest.member_id, func.count())
            .where(
                HelpRequest.member_id.in_(ids),
                HelpRequest.created_at >= start,
                HelpRequest.created_at < end,
            )
            .group_by(HelpRequest.member_id)
        ).all()
    )
    contacts: dict[tuple[int, ContactKind], int] = defaultdict(int)
    for mid, kind, n in session.execute(
        select(ContactLog.member_id, ContactLog.kind, func.count())
        .where(ContactLog.member_id.in_(ids), ContactLog.period.in_(periods))
        .group_by(ContactLog.member_id, ContactLog.kind)
    ).all():
        contacts[(mid, kind)] = int(n)
    names = _org_names(session, {m.branch_id for m in members})
    running = current_period(scope)
    starts = [period_bounds(p, scope.timezone)[0] for p in periods if p <= running]
    ratings = {
        r.member_id: r
        for r in session.scalars(
            select(MemberRating).where(
                MemberRating.member_id.in_(ids),
                MemberRating.year == year,
                MemberRating.superseded_at.is_(None),
            )
        )
    }
    raters = user_names(session, {r.rater_id for r in ratings.values()})
    return [
        ReviewRow(
            member=m,
            branch_name=names.get(m.branch_id, ""),
            reports=reports.get(m.id, (0, 0))[0],
            studied=reports.get(m.id, (0, 0))[1],
            lessons=int(lessons.get(m.id, 0)),
            help_requests=int(helps.get(m.id, 0)),
            contacts=contacts[(m.id, ContactKind.MONTHLY_CONTACT)],
            home_visits=contacts[(m.id, ContactKind.HOME_VISIT)],
            feedback=contacts[(m.id, ContactKind.HOST_FEEDBACK)],
            due=sum(is_due(m.created_at, start) for start in starts),
            rating=ratings.get(m.id),
            rater=raters.get(ratings[m.id].rater_id or 0, "") if m.id in ratings else "",
        )
        for m in members
    ]


# --- host organisations ----------------------------------------------------------------


@dataclass(frozen=True)
class HostRow:
    """A member attached to a host organisation, and whether this month's feedback is in."""

    member: Member
    branch_name: str
    feedback: ContactLog | None


def host_members(
    session: Session, scope: Scope, period: str, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[HostRow]:
    """The host's members, each with the feedback it left for the period (if any)."""
    query = (
        select(Member)
        .where(scope.member_clause(), Member.active.is_(True))
        .order_by(Member.branch_id, Member.id)
    )
    members = _paginate(session, query, page, per_page)
    ids = [m.id for m in members.items]
    feedback = {
        c.member_id: c
        for c in session.scalars(
            select(ContactLog)
            .where(
                ContactLog.member_id.in_(ids),
                ContactLog.period == period,
                ContactLog.kind == ContactKind.HOST_FEEDBACK,
            )
            .order_by(ContactLog.id)
        )
    }
    names = _org_names(session, {m.branch_id for m in members.items})
    rows = [HostRow(m, names.get(m.branch_id, ""), feedback.get(m.id)) for m in members.items]
    return Page(rows, members.page, members.per_page, members.total)


# --- broadcasts, lessons, audit --------------------------------------------------------


def broadcasts(
    session: Session, scope: Scope, *, page: int = 1, per_page: int = 20
) -> Page[Broadcast]:
    """Broadcasts of the scope's organisations, newest first."""
    query = (
        select(Broadcast)
        .where(scope.within(Broadcast.org_id, scope.org_ids))
        .order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
    )
    return _paginate(session, query, page, per_page)


def visible_broadcast(session: Session, scope: Scope, broadcast_id: int) -> Broadcast | None:
    """A broadcast of the user's organisations, else None."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not scope.sees_org(broadcast.org_id):
        return None
    return broadcast


def broadcast_recipients(
    session: Session, broadcast_id: int, *, status: str = "", page: int = 1, per_page: int = 50
) -> Page[Message]:
    """The outbound messages of a broadcast, one per recipient, in member order."""
    query = select(Message).where(
        Message.broadcast_id == broadcast_id, Message.direction == Direction.OUT
    )
    if status:
        query = query.where(Message.status == status)
    return _paginate(session, query.order_by(Message.member_id, Message.id), page, per_page)


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
    found = _paginate(session, query, page, per_page)
    ids = [lesson.id for lesson in found.items]
    figures = {
        lid: (int(n), int(c or 0), int(u), int(s or 0))
        for lid, n, c, u, s in session.execute(
            select(
                LessonListen.lesson_id,
                func.count(),
                func.sum(case((LessonListen.completed.is_(True), 1), else_=0)),
                func.count(func.distinct(LessonListen.member_id)),
                func.avg(LessonListen.seconds),
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
    return _paginate(session, query, page, per_page)


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


def audit_entries(
    session: Session,
    scope: Scope,
    *,
    action: str = "",
    user_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[AuditLog]:
    """Audit entries by the users of the scope's organisations, and those made without a
    user (on the command line) for one of them, newest first.

    A township office also sees the entries that belong to no organisation: failed logins.
    """
    users = select(User.id).where(scope.within(User.org_id, scope.org_ids))
    no_user = AuditLog.user_id.is_(None)
    whose: ColumnElement[bool] = or_(
        AuditLog.user_id.in_(users), and_(no_user, scope.within(AuditLog.org_id, scope.org_ids))
    )
    if scope.role is Role.TOWNSHIP:
        whose = or_(whose, and_(no_user, AuditLog.org_id.is_(None)))
    query = select(AuditLog).where(whose)
    if action:
        query = query.where(AuditLog.action == AuditAction.of(action))  # unknown: none
    if user_id is not None:
        query = query.where(AuditLog.user_id == user_id)
    return _paginate(
        session, query.order_by(AuditLog.at.desc(), AuditLog.id.desc()), page, per_page
    )


__all__ = [
    "MAX_PERIODS",
    "PER_PAGE",
    "BranchRate",
    "Dashboard",
    "GridRow",
    "HostRow",
    "LessonStats",
    "MemberFile",
    "MemberFilter",
    "MemberRow",
    "MonthCell",
    "NonReporterRow",
    "Page",
    "ReviewRow",
    "RosterRow",
    "TrendPoint",
    "UnmatchedNumber",
    "audit_entries",
    "branch_rates",
    "broadcast_recipients",
    "broadcast_replies",
    "broadcasts",
    "broadcasts_by_id",
    "campaign_calls",
    "campaigns",
    "current_period",
    "dashboard",
    "help_notes",
    "help_recordings",
    "help_requests",
    "host_choices",
    "host_members",
    "inbox_counts",
    "inbox_recordings",
    "inbox_texts",
    "is_settled",
    "iter_makeup_roster",
    "iter_yearly_review",
    "lesson_org_ids",
    "lessons",
    "liaison_choices",
    "makeup_roster",
    "makeup_seasons",
    "member_cities",
    "member_file",
    "member_hosts",
    "member_industries",
    "member_scope",
    "members_by_id",
    "non_reporters",
    "notice_replies",
    "periods_between",
    "refresh_tallies",
    "reporting_trend",
    "reports_grid",
    "search_members",
    "unmatched_numbers",
    "user_names",
    "visible_broadcast",
    "visible_flags",
    "visible_help_request",
    "visible_lesson",
    "visible_member",
    "visible_member_ids",
    "visible_messages",
    "visible_recordings",
    "yearly_review",
]
