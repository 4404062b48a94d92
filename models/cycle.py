"""The monthly cycle: who is due which escalation step now, contact windows, quiet hours,
busy seasons, and closing a period into its non-reporters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, lazyload

from models.call import CallPurpose
from models.member import Member
from models.org import Organization, OrgKind, subtree_ids, township_of
from models.period import period_bounds, period_of
from models.reminder import EscalationStep, ReminderStep
from models.report import NonReporter, Report
from models.targets import BilingualError

S = EscalationStep
STEPS = tuple(EscalationStep)
# Steps that reach the member, so only inside the member's window; a liaison task does not.
CONTACT_STEPS = frozenset({S.REMINDER, S.SECOND_REMINDER, S.IVR_CALL})
# Steps that are texts. A member who opted out (TD) is not texted, but is still called, and
# the liaison's task still happens: TD stops texts, not calls, not the branch's duties.
TEXT_STEPS = frozenset({S.REMINDER, S.SECOND_REMINDER})
# The purpose of the escalation's call (Call.purpose).
REMINDER_CALL = CallPurpose.REMINDER


class CycleError(BilingualError):
    """A cycle operation asked at the wrong time (a period not yet over, say)."""


@dataclass(frozen=True)
class CycleRules:
    """One township's settings for the cycle, read once per tick."""

    timezone: ZoneInfo
    escalation_days: dict[str, int]
    window: tuple[time, time]
    quiet: tuple[time, time]
    busy_seasons: tuple[tuple[str, str], ...]


class HasWindow(Protocol):
    """Anything with a member's own contact window: a Member, or a row of its two columns."""

    @property
    def window_start(self) -> str | None: ...

    @property
    def window_end(self) -> str | None: ...


def parse_hhmm(text: str) -> time:
    """'19:00' as a time."""
    hours, minutes = str(text).strip().split(":")
    return time(int(hours), int(minutes))


def rules_for(township: Organization, branch: Organization | None = None) -> CycleRules:
    """The cycle settings of a township, or of one of its branches, defaults filled in.

    A branch may override any of the four settings (contact window, quiet hours, busy
    seasons, escalation days) in its own `settings`; what it leaves out comes from the
    township. The time zone is always the township's: a period is the township's month.
    """

    def value(key: str) -> Any:
        own = (branch.settings or {}).get(key) if branch is not None else None
        return own if own is not None else township.setting(key)

    days = dict(value("escalation_days") or {})
    window = value("contact_window") or ["19:00", "21:30"]
    quiet = value("quiet_hours") or ["21:30", "08:00"]
    seasons = value("busy_seasons") or []
    return CycleRules(
        timezone=ZoneInfo(township.timezone or "Asia/Shanghai"),
        escalation_days={step: int(days.get(step, 99)) for step in STEPS},
        window=(parse_hhmm(window[0]), parse_hhmm(window[1])),
        quiet=(parse_hhmm(quiet[0]), parse_hhmm(quiet[1])),
        busy_seasons=tuple((str(a), str(b)) for a, b in seasons),
    )


def member_rules(session: Session, member: Member) -> CycleRules:
    """The rules a member is contacted by: the branch's override, else the township's."""
    branch = session.get(Organization, member.branch_id)
    assert branch is not None  # branch_id is a non-null foreign key
    return rules_for(township_of(session, branch), branch)


def branch_rules(session: Session, township: Organization) -> dict[int, CycleRules]:
    """The rules of every branch under a township, by branch id (for a tick over many)."""
    branches = session.scalars(
        select(Organization).where(
            Organization.id.in_(subtree_ids(session, township.id)),
            Organization.kind == OrgKind.BRANCH,
        )
    )
    return {branch.id: rules_for(township, branch) for branch in branches}


def in_range(moment: time, start: time, end: time) -> bool:
    """Whether a time of day is in [start, end), a range that may run past midnight."""
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def member_window(member: HasWindow, rules: CycleRules) -> tuple[time, time, bool]:
    """The member's contact window, and whether it is their own (which overrides quiet hours).

    A member's own window needs both ends; one end alone leaves the branch's window. An own
    window whose ends are equal (00:00-00:00) is the whole day."""
    if member.window_start and member.window_end:
        return parse_hhmm(member.window_start), parse_hhmm(member.window_end), True
    return rules.window[0], rules.window[1], False


def may_contact(member: HasWindow, rules: CycleRules, now: datetime) -> bool:
    """Whether the member may be texted or called at this moment."""
    local = now.astimezone(rules.timezone).time()
    start, end, own = member_window(member, rules)
    if own and start == end:
        return True
    if not in_range(local, start, end):
        return False
    return own or not in_range(local, *rules.quiet)


def next_contact_time(member: HasWindow, rules: CycleRules, after: datetime) -> datetime:
    """The first moment at or after `after` when the member may be contacted.

    The allowed time is the window minus quiet hours, so it always begins at `after` itself,
    at a window start or at the end of the quiet hours: only those need checking.
    """
    start, _end, _own = member_window(member, rules)
    local_day = after.astimezone(rules.timezone).date()
    candidates = [after]
    for offset in range(3):
        day = local_day + timedelta(days=offset)
        for moment in (start, rules.quiet[1]):
            candidates.append(datetime.combine(day, moment, rules.timezone))
    for candidate in sorted(c for c in candidates if c >= after):
        if may_contact(member, rules, candidate):
            return candidate
    return after + timedelta(days=1)  # a window wholly inside quiet hours: try again tomorrow


def skipped_steps(member: Member) -> frozenset[EscalationStep]:
    """The escalation steps a member is not given: nothing that reaches an invalid number,
    no texts after TD."""
    if member.phone_invalid_at is not None:
        return CONTACT_STEPS
    if member.opted_out:
        return TEXT_STEPS
    return frozenset()


def may_place_call(member: Member | None, purpose: CallPurpose, *, asked: bool = False) -> bool:
    """Whether an outbound call may go to a member now: never to one who left or whose number
    is invalid; after TD (which stops texts) only the escalation's reminder call and the calls
    back the member asked for since (`asked`)."""
    if member is None or not member.active or member.phone_invalid_at is not None:
        return False
    return not member.opted_out or purpose == REMINDER_CALL or asked


def in_busy_season(rules: CycleRules, now: datetime) -> bool:
    """Whether this moment is in one of the township's busy seasons (no lesson calls)."""
    today = now.astimezone(rules.timezone).strftime("%m-%d")
    for first, last in rules.busy_seasons:
        if first <= last:
            if first <= today <= last:
                return True
        elif today >= first or today <= last:  # a season over the new year
            return True
    return False


# A member registered on a month's first day has the whole month to report (and gets its
# first reminder): that month counts. Registered later in the month, it does not.
DUE_GRACE = timedelta(days=1)


def due_in_period(start: datetime) -> ColumnElement[bool]:
    """Members expected to report in the period that begins at `start`.

    A member is due in a month registered by the end of its first day: the month a register
    is loaded on the 20th, say, is not a missed month, nor any month before. A report sent
    in such a month is still kept and shown; it only does not count in rates.
    """
    return Member.created_at < start + DUE_GRACE


def is_due(registered_at: datetime, start: datetime) -> bool:
    """`due_in_period` for one member already loaded."""
    return registered_at < start + DUE_GRACE


@dataclass(frozen=True)
class DueStep:
    """One member due one escalation step now."""

    member: Member
    step: EscalationStep
    period: str


def due_steps(session: Session, township: Organization, now: datetime) -> list[DueStep]:
    """Every member of the township due an escalation step now, at most one step each.

    A member who has reported this period or is inactive gets nothing; one who opted out gets
    no texts (see skipped_steps). Steps go in order, one a local day at most (so a missed tick
    never sends two at once), and steps that reach the member wait for the member's window.
    """
    rules = rules_for(township)
    by_branch = branch_rules(session, township)
    period = period_of(now, str(rules.timezone))
    local_day = now.astimezone(rules.timezone).date()
    reached_by_branch = {
        branch_id: [step for step in STEPS if own.escalation_days[step] <= local_day.day]
        for branch_id, own in by_branch.items()
    }
    township_reached = [step for step in STEPS if rules.escalation_days[step] <= local_day.day]
    if not township_reached and not any(reached_by_branch.values()):
        return []
    members = list(
        session.scalars(
            select(Member)
            .where(
                Member.branch_id.in_(subtree_ids(session, township.id)),
                Member.active.is_(True),
                # One rule for who owes this month's report: the escalation asks nobody else.
                due_in_period(period_bounds(period, rules.timezone)[0]),
                ~exists().where(Report.member_id == Member.id, Report.period == period),
            )
            .order_by(Member.id)
            .options(lazyload(Member.branch))
        )
    )
    if not members:
        return []
    done: dict[int, set[EscalationStep]] = {}
    last_day: dict[int, date] = {}
    for member_id, step, done_at in session.execute(
        select(ReminderStep.member_id, ReminderStep.step, ReminderStep.done_at).where(
            ReminderStep.period == period
        )
    ):
        done.setdefault(member_id, set()).add(step)
        day = done_at.astimezone(rules.timezone).date()
        last_day[member_id] = max(day, last_day.get(member_id, day))
    due: list[DueStep] = []
    for member in members:
        if last_day.get(member.id) == local_day:
            continue
        own = by_branch.get(member.branch_id, rules)
        reached = reached_by_branch.get(member.branch_id, township_reached)
        skipped = done.get(member.id, set()) | skipped_steps(member)
        pending = [step for step in reached if step not in skipped]
        if member.phone_invalid_at is not None:
            pending = [step for step in pending if step not in CONTACT_STEPS]
        if not pending:
            continue
        step = pending[0]
        if step in CONTACT_STEPS and not may_contact(member, own, now):
            continue
        due.append(DueStep(member, step, period))
    return due


def record_step(
    session: Session, member_id: int, period: str, step: EscalationStep, now: datetime
) -> None:
    """Note that a member was given an escalation step this period."""
    session.add(ReminderStep(member_id=member_id, period=period, step=step, done_at=now))


def close_period(session: Session, township: Organization, period: str, now: datetime) -> int:
    """Fix the period's non-reporters of a township; returns how many were added.

    Closing again adds nobody twice. Members registered after the period's first day are
    not counted (`due_in_period`).
    """
    rules = rules_for(township)
    try:
        start, end = period_bounds(period, rules.timezone)
    except ValueError:
        raise CycleError(
            f"月份格式应为YYYY-MM:{period}", f"Not a period (YYYY-MM): {period}"
        ) from None
    if now < end:
        raise CycleError(f"{period}还没有结束", f"The period {period} is not over yet")
    rows = session.execute(
        select(Member.id, Member.branch_id).where(
            Member.branch_id.in_(subtree_ids(session, township.id)),
            Member.active.is_(True),
            due_in_period(start),
            ~exists().where(Report.member_id == Member.id, Report.period == period),
            ~exists().where(NonReporter.member_id == Member.id, NonReporter.period == period),
        )
    ).all()
    for member_id, branch_id in rows:
        session.add(
            NonReporter(member_id=member_id, branch_id=branch_id, period=period, closed_at=now)
        )
    session.flush()
    return len(rows)


__all__ = [
    "CONTACT_STEPS",
    "REMINDER_CALL",
    "STEPS",
    "TEXT_STEPS",
    "CycleError",
    "CycleRules",
    "DueStep",
    "HasWindow",
    "branch_rules",
    "close_period",
    "due_in_period",
    "due_steps",
    "in_busy_season",
    "in_range",
    "is_due",
    "may_contact",
    "may_place_call",
    "member_rules",
    "member_window",
    "next_contact_time",
    "record_step",
    "rules_for",
    "skipped_steps",
]
