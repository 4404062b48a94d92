"""Deadlines of help requests: first contact and resolution, per category and township.

A request nobody has followed up (no note, no resolution) by its first-contact deadline goes on
the task lists of the member's liaison and the branch; one not resolved by its resolution
deadline is escalated to the township's dashboard. Each step is a note in the request's
history (`HelpNote.event`). The member is told once that the request is still being handled,
and never more than once a week whatever the number of requests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.cycle import may_contact, member_rules
from models.help import HelpCategory, HelpEvent, HelpNote, HelpRequest, HelpStatus, ref_of
from models.member import Member
from models.org import Organization, subtree_ids
from models.outbox import queue_sms
from models.targets import BilingualError

DEADLINES_KEY = "help_deadlines"
MIN_DAYS, MAX_DAYS = 1, 365
FIRST_CONTACT_DAYS = 2
# Wages and disputes cannot wait a month: the member may be owed money or facing an employer.
RESOLUTION_DAYS = {
    c: 15 if c in (HelpCategory.WAGES, HelpCategory.DISPUTE) else 30 for c in HelpCategory
}
# The member is told a request is still being handled at most once a week.
STILL_TEXT_GAP = timedelta(days=7)
_KINDS = {"first_contact": ("首次联系", "first contact"), "resolution": ("办结", "resolution")}
_CATEGORY_ZH = {
    HelpCategory.WAGES: "工资",
    HelpCategory.HOUSING: "住房",
    HelpCategory.SCHOOLING: "子女入学",
    HelpCategory.JOBS: "就业",
    HelpCategory.DISPUTE: "纠纷",
    HelpCategory.DOCUMENTS: "证照",
    HelpCategory.OTHER: "其他",
}


class DeadlineError(BilingualError):
    """A deadline setting that cannot be stored."""


@dataclass(frozen=True)
class Deadlines:
    """Days to first contact and to resolution of one category."""

    first_contact: int
    resolution: int


def default_deadlines() -> dict[HelpCategory, Deadlines]:
    """The deadlines of a township that set none."""
    return {c: Deadlines(FIRST_CONTACT_DAYS, RESOLUTION_DAYS[c]) for c in HelpCategory}


def deadlines_for(township: Organization) -> dict[HelpCategory, Deadlines]:
    """A township's deadlines per category, defaults where it set none."""
    stored = (township.settings or {}).get(DEADLINES_KEY) or {}
    found = default_deadlines()
    for category in HelpCategory:
        value = stored.get(category.value)
        if isinstance(value, dict):
            found[category] = Deadlines(
                int(value.get("first_contact", found[category].first_contact)),
                int(value.get("resolution", found[category].resolution)),
            )
    return found


def check_days(category: HelpCategory, kind: str, raw: Any) -> int:
    """One deadline in whole days, from one day to a year; else a DeadlineError saying so."""
    zh_kind, en_kind = _KINDS[kind]
    zh = f"{_CATEGORY_ZH[category]}类求助的{zh_kind}期限"
    en = f"The {en_kind} deadline of {category.value} requests"
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise DeadlineError(
            f"{zh}应为{MIN_DAYS}到{MAX_DAYS}之间的整数天:{raw!r}",
            f"{en} must be a whole number of days from {MIN_DAYS} to {MAX_DAYS}: {raw!r}",
        ) from None
    if days < MIN_DAYS:
        raise DeadlineError(
            f"{zh}不能少于{MIN_DAYS}天:{days}", f"{en} cannot be under {MIN_DAYS} day: {days}"
        )
    if days > MAX_DAYS:
        raise DeadlineError(
            f"{zh}不能超过一年({MAX_DAYS}天):{days}",
            f"{en} cannot be over a year ({MAX_DAYS} days): {days}",
        )
    return days


def check_deadlines(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Deadlines for every category as stored in the township's settings, each checked; the
    first contact must come no later than the resolution."""
    checked: dict[str, dict[str, int]] = {}
    for category in HelpCategory:
        given = values.get(category.value) or {}
        first = check_days(category, "first_contact", given.get("first_contact", ""))
        resolution = check_days(category, "resolution", given.get("resolution", ""))
        if first > resolution:
            raise DeadlineError(
                f"{_CATEGORY_ZH[category]}类求助的首次联系期限({first}天)不能晚于办结期限({resolution}天)",
                f"The first contact deadline of {category.value} requests ({first} days) "
                f"cannot be after its resolution deadline ({resolution} days)",
            )
        checked[category.value] = {"first_contact": first, "resolution": resolution}
    return checked


def set_deadlines(township: Organization, checked: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Store checked deadlines on the township; returns {key: [before, after]} if they changed."""
    stored = dict(township.settings or {})
    before = stored.get(DEADLINES_KEY)
    if before == checked:
        return {}
    stored[DEADLINES_KEY] = checked
    township.settings = stored  # a new dict, so the JSON column is written
    return {DEADLINES_KEY: [before, checked]}


def first_contact_due(request: HelpRequest, deadlines: dict[HelpCategory, Deadlines]) -> datetime:
    """When a request must have been followed up by."""
    return request.created_at + timedelta(days=deadlines[request.category].first_contact)


def resolution_due(request: HelpRequest, deadlines: dict[HelpCategory, Deadlines]) -> datetime:
    """When a request must have been resolved by."""
    return request.created_at + timedelta(days=deadlines[request.category].resolution)


def _event(session: Session, request: HelpRequest, event: HelpEvent, now: datetime) -> None:
    session.add(
        HelpNote(help_request_id=request.id, user_id=None, text="", event=event, created_at=now)
    )


def _last_still_text(session: Session, member_id: int) -> datetime | None:
    return session.scalar(
        select(func.max(HelpRequest.still_texted_at)).where(HelpRequest.member_id == member_id)
    )


@dataclass
class SweepResult:
    """What one sweep of a township did: steps taken, and the texts to hand to the sender."""

    taken: Counter[str]
    message_ids: list[int]


def sweep_deadlines(session: Session, township: Organization, now: datetime) -> SweepResult:
    """Take every deadline step due now in a township (safe to run again: each step once).

    The "still being handled" text waits for the member's contact window (and the quiet
    hours), goes once per request, and not within a week of the last one the member got.
    It answers the member's own request, so it goes after TD too (as the closing text does);
    never to a member who left or whose number is invalid.
    """
    deadlines = deadlines_for(township)
    result = SweepResult(Counter(), [])
    rows = session.execute(
        select(HelpRequest, Member)
        .join(Member, Member.id == HelpRequest.member_id)
        .where(
            Member.branch_id.in_(subtree_ids(session, township.id)),
            HelpRequest.status != HelpStatus.RESOLVED,
            (HelpRequest.escalated_at.is_(None) | HelpRequest.still_texted_at.is_(None)),
        )
        .order_by(HelpRequest.id)
    ).all()
    for request, member in rows:
        if (
            request.first_contact_at is None
            and request.contact_overdue_at is None
            and now >= first_contact_due(request, deadlines)
        ):
            request.contact_overdue_at = now
            _event(session, request, HelpEvent.CONTACT_OVERDUE, now)
            result.taken["contact_overdue"] += 1
        if request.escalated_at is None and now >= resolution_due(request, deadlines):
            request.escalated_at = now
            _event(session, request, HelpEvent.ESCALATED, now)
            result.taken["escalated"] += 1
        late = request.contact_overdue_at is not None or request.escalated_at is not None
        if late and request.still_texted_at is None and _may_text(session, member, now):
            session.flush()
            last = _last_still_text(session, member.id)
            if last is not None and now - last < STILL_TEXT_GAP:
                continue
            message = queue_sms(
                session,
                template_key="help_pending",
                params={"ref": ref_of(request.id)},
                member=member,
                essential=True,
                at=now,
            )
            request.still_texted_at = now
            _event(session, request, HelpEvent.STILL_TEXTED, now)
            result.message_ids.append(message.id)
            result.taken["still_texted"] += 1
    session.flush()
    return result


def _may_text(session: Session, member: Member, now: datetime) -> bool:
    if not member.active or member.phone_invalid_at is not None:
        return False
    return may_contact(member, member_rules(session, member), now)


__all__ = [
    "DEADLINES_KEY",
    "MAX_DAYS",
    "MIN_DAYS",
    "STILL_TEXT_GAP",
    "DeadlineError",
    "Deadlines",
    "SweepResult",
    "check_days",
    "check_deadlines",
    "deadlines_for",
    "default_deadlines",
    "first_contact_due",
    "resolution_due",
    "set_deadlines",
    "sweep_deadlines",
]
