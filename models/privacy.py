"""Personal information (个人信息保护): the notice members are given, how long what they send is
kept, masked phone numbers, a member's own file, erasure, and unused logins.

One rule, one function: the nightly run (`nightly`), the command line and the admin all call
these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, ForeignKey, Index, UniqueConstraint, delete, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.audit import AuditAction, AuditLog, audit
from models.base import Base, utcnow
from models.call import Call, Recording
from models.contact import ContactLog
from models.deed import Deed, DeedStatus
from models.help import HelpNote, HelpRequest, HelpStatus
from models.member import Member, MemberChange
from models.message import Conversation, Direction, Message, PhoneChange
from models.notice import (
    NOTICE_TEMPLATE,
    NOTICE_VERSION,
    NoticeChannel,
    PrivacyNotice,
    has_notice,
    record_notice,
)
from models.org import Organization, subtree_ids
from models.report import Report
from models.targets import BilingualError
from models.user import Role, User, deactivate_user

# Per-township settings (`Organization.settings["privacy"]`) and their defaults.
RETENTION_DEFAULTS: dict[str, int] = {
    "recording_months": 12,  # a handled recording's audio, after this many months
    "inbound_months": 24,  # an inbound text's body, after this many months
    "audit_months": 60,  # audit entries; always longer than the two above
    "unused_user_days": 90,  # a login unused this long is disabled
}
RETENTION_KEY = "privacy"
_LIMITS = {
    "recording_months": (1, 120),
    "inbound_months": (1, 120),
    "audit_months": (2, 240),
    "unused_user_days": (7, 3650),
}
_NAMES = {
    "recording_months": ("录音保存月数", "Months recordings are kept"),
    "inbound_months": ("短信内容保存月数", "Months inbound texts are kept"),
    "audit_months": ("审计日志保存月数", "Months the audit log is kept"),
    "unused_user_days": ("账号闲置停用天数", "Days before an unused login is disabled"),
}
# The nightly run happens in the first hourly sweep at or after 01:00 local time, before 06:00.
NIGHT_HOURS = range(1, 6)
# Roles that call members: they may reveal a number on a member's file.
CALLING_ROLES = frozenset({Role.BRANCH, Role.LIAISON})
ERASED_NAME = "已删除"
ERASED_PHONE = "erased:"  # an erased member's phone: unique, and no number
REVIEW_DAYS = 90


class RetentionRun(Base):
    """One township's nightly privacy run: the local night it ran for and what it removed."""

    __tablename__ = "retention_runs"
    __table_args__ = (
        UniqueConstraint("township_id", "night"),
        Index("ix_retention_runs_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    night: Mapped[date] = mapped_column(Date)
    removed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivacyError(BilingualError):
    """A privacy setting or an erasure that is refused: why, in Chinese and English."""


# --- settings ---------------------------------------------------------------------------------


def retention_rules(township: Organization) -> dict[str, int]:
    """The township's retention settings, its own over the defaults."""
    stored = (township.settings or {}).get(RETENTION_KEY) or {}
    return {key: int(stored.get(key, default)) for key, default in RETENTION_DEFAULTS.items()}


def check_retention(values: dict[str, Any]) -> dict[str, int]:
    """Whole numbers in range, and the audit log kept longer than what it describes."""
    checked: dict[str, int] = {}
    for key, (low, high) in _LIMITS.items():
        zh, en = _NAMES[key]
        raw = str(values.get(key, "")).strip()
        try:
            number = int(raw)
        except ValueError:
            raise PrivacyError(
                f"{zh}应为{low}到{high}的整数:{raw!r}",
                f"{en} must be a whole number from {low} to {high}: {raw!r}",
            ) from None
        if not low <= number <= high:
            raise PrivacyError(
                f"{zh}应在{low}到{high}之间:{number}",
                f"{en} must be from {low} to {high}: {number}",
            )
        checked[key] = number
    longest = max(checked["recording_months"], checked["inbound_months"])
    if checked["audit_months"] <= longest:
        raise PrivacyError(
            f"审计日志应比录音和短信保存得更久(多于{longest}个月)",
            f"The audit log must be kept longer than recordings and texts (over {longest} months)",
        )
    return checked


def set_retention(township: Organization, values: dict[str, int]) -> dict[str, Any]:
    """Store checked retention settings on the township; returns {key: [before, after]}."""
    before = retention_rules(township)
    changes = {k: [before[k], v] for k, v in values.items() if before[k] != v}
    if changes:
        township.settings = {**(township.settings or {}), RETENTION_KEY: dict(values)}
    return changes


def months_before(moment: datetime, months: int, zone: ZoneInfo) -> datetime:
    """The same local day and time `months` calendar months earlier (the month's last day
    when that month is shorter)."""
    local = moment.astimezone(zone)
    index = local.year * 12 + local.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    day = local.day
    while True:
        try:
            return local.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


# --- retention --------------------------------------------------------------------------------


@dataclass
class Removed:
    """What one retention run removed (or would remove, in a dry run), by rule."""

    recordings: list[int] = field(default_factory=list)
    inbound_texts: list[int] = field(default_factory=list)
    phone_changes: int = 0
    conversations: int = 0
    audit_entries: int = 0
    users_disabled: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The figures for a log line and the audit entry."""
        return {
            "recordings": len(self.recordings),
            "inbound_texts": len(self.inbound_texts),
            "phone_changes": self.phone_changes,
            "conversations": self.conversations,
            "audit_entries": self.audit_entries,
            "users_disabled": len(self.users_disabled),
        }


def _open_help_members() -> Any:
    return select(HelpRequest.member_id).where(HelpRequest.status != HelpStatus.RESOLVED)


def _township_members(org_ids: list[int]) -> Any:
    return select(Member.id).where(Member.branch_id.in_(org_ids))


def expired_recordings(session: Session, org_ids: list[int], cutoff: datetime) -> list[Recording]:
    """Handled recordings older than the cutoff whose audio is still kept, except those of an
    open help request or a deed not yet confirmed or declined."""
    pending_deeds = select(Deed.recording_id).where(
        Deed.status == DeedStatus.PENDING, Deed.recording_id.is_not(None)
    )
    open_help = select(HelpRequest.id).where(HelpRequest.status != HelpStatus.RESOLVED)
    return list(
        session.scalars(
            select(Recording).where(
                Recording.member_id.in_(_township_members(org_ids)),
                Recording.handled.is_(True),
                Recording.url != "",
                Recording.created_at < cutoff,
                Recording.id.not_in(pending_deeds),
                or_(
                    Recording.help_request_id.is_(None), Recording.help_request_id.not_in(open_help)
                ),
            )
        )
    )


def expired_texts(session: Session, org_ids: list[int], cutoff: datetime) -> list[Message]:
    """Handled inbound texts older than the cutoff with a body, except those of a member with
    an open help request."""
    return list(
        session.scalars(
            select(Message).where(
                Message.direction == Direction.IN,
                Message.member_id.in_(_township_members(org_ids)),
                Message.handled.is_(True),
                Message.body != "",
                Message.created_at < cutoff,
                Message.member_id.not_in(_open_help_members()),
            )
        )
    )


def unused_users(session: Session, org_ids: list[int], cutoff: datetime) -> list[User]:
    """Active users of these organisations who have not logged in since the cutoff (a user who
    never logged in counts from when the login was made)."""
    last_used = func.coalesce(User.last_login_at, User.created_at)
    return list(
        session.scalars(
            select(User).where(User.org_id.in_(org_ids), User.active.is_(True), last_used < cutoff)
        )
    )


def apply_retention(
    session: Session, township: Organization, now: datetime, *, dry_run: bool = False
) -> Removed:
    """Apply the township's retention settings as of `now`; a dry run only counts.

    A recording loses its audio link (the row, its length, its call and any note about it
    stay); an inbound text its body (the row, its command and time stay); finished or expired
    phone-change codes and expired conversations are deleted; audit entries older than their
    own setting are deleted; unused logins are disabled.
    """
    rules = retention_rules(township)
    zone = ZoneInfo(township.timezone)
    org_ids = subtree_ids(session, township.id)
    removed = Removed()
    recordings = expired_recordings(
        session, org_ids, months_before(now, rules["recording_months"], zone)
    )
    texts = expired_texts(session, org_ids, months_before(now, rules["inbound_months"], zone))
    removed.recordings = [r.id for r in recordings]
    removed.inbound_texts = [m.id for m in texts]
    members = _township_members(org_ids)
    finished_codes = PhoneChange.__table__.c.member_id.in_(members) & or_(
        PhoneChange.confirmed_at.is_not(None), PhoneChange.expires_at < now
    )
    stale_talks = Conversation.member_id.in_(members) & (Conversation.expires_at < now)
    removed.phone_changes = session.scalar(select(func.count()).where(finished_codes)) or 0
    removed.conversations = session.scalar(select(func.count()).where(stale_talks)) or 0
    users = select(User.id).where(User.org_id.in_(org_ids))
    old_audit = or_(AuditLog.user_id.in_(users), AuditLog.org_id.in_(org_ids)) & (
        AuditLog.at < months_before(now, rules["audit_months"], zone)
    )
    removed.audit_entries = session.scalar(select(func.count()).where(old_audit)) or 0
    idle = unused_users(session, org_ids, now - timedelta(days=rules["unused_user_days"]))
    removed.users_disabled = [u.username for u in idle]
    if dry_run:
        return removed
    for recording in recordings:
        recording.url = ""
        recording.deleted_at = now
    for message in texts:
        message.body = ""
    session.execute(delete(PhoneChange).where(finished_codes))
    session.execute(delete(Conversation).where(stale_talks))
    session.execute(delete(AuditLog).where(old_audit))
    for user in idle:
        deactivate_user(user)
        audit(
            session,
            None,
            AuditAction.USER_DISABLED,
            f"user:{user.id}",
            {"username": user.username, "unused_days": rules["unused_user_days"]},
            org_id=township.id,
        )
    session.flush()
    audit(
        session,
        None,
        AuditAction.RETENTION,
        f"org:{township.id}",
        removed.counts(),
        org_id=township.id,
    )
    return removed


def nightly(session: Session, township: Organization, now: datetime) -> Removed | None:
    """The township's nightly run, once per local night (01:00-06:00): applies retention and
    records the night, so a second sweep that night, or a second process, does nothing.
    Returns what was removed, or None when it is not the time or the night already ran."""
    local = now.astimezone(ZoneInfo(township.timezone))
    if local.hour not in NIGHT_HOURS:
        return None
    night = local.date()
    seen = session.scalar(
        select(RetentionRun.id).where(
            RetentionRun.township_id == township.id, RetentionRun.night == night
        )
    )
    if seen is not None:
        return None
    run = RetentionRun(township_id=township.id, night=night, at=now, removed={})
    session.add(run)
    session.flush()  # a second process racing us fails here, on the unique night
    removed = apply_retention(session, township, now)
    run.removed = removed.counts()
    return removed


# --- phone numbers ----------------------------------------------------------------------------


def mask_phone(phone: str | None) -> str:
    """A phone number with the middle hidden: +8613800000001 -> 138****0001."""
    if not phone:
        return ""
    if phone.startswith(ERASED_PHONE):
        return ERASED_NAME
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def sees_full_numbers(role: Role) -> bool:
    """Whether this role calls members, and so may see (and export) full numbers."""
    return role in CALLING_ROLES


# --- a member's own data ----------------------------------------------------------------------


def _when(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def member_file(session: Session, member: Member) -> dict[str, Any]:
    """Everything kept about a member, as plain data (a JSON file for the member)."""
    card = {
        key: getattr(member, key)
        for key in (
            "id",
            "name",
            "phone",
            "other_phone",
            "sex",
            "birth_year",
            "education",
            "occupation",
            "industry",
            "employer",
            "city",
            "province",
            "reason",
            "card_no",
            "window_start",
            "window_end",
        )
    }
    card |= {
        "branch": member.branch.name,
        "status": member.status.value,
        "language": member.language.value,
        "active": member.active,
        "departure_date": _when(member.departure_date),
        "opted_out_at": _when(member.opted_out_at),
        "created_at": _when(member.created_at),
    }
    by_member = {"member_id": member.id}

    def rows(model: Any, order: Any) -> list[Any]:
        return list(session.scalars(select(model).filter_by(**by_member).order_by(order)))

    return {
        "exported_at": _when(utcnow()),
        "card": card,
        "history": [
            {
                "field": c.field.value,
                "old": c.old_value,
                "new": c.new_value,
                "source": c.source.value,
                "at": _when(c.changed_at),
            }
            for c in rows(MemberChange, MemberChange.changed_at)
        ],
        "reports": [
            {
                "period": r.period,
                "studied": r.studied,
                "city": r.city,
                "employer": r.employer,
                "channel": r.channel.value,
                "received_at": _when(r.received_at),
            }
            for r in rows(Report, Report.period)
        ],
        "messages": [
            {
                "direction": m.direction.value,
                "body": m.body,
                "status": m.status.value,
                "at": _when(m.created_at),
            }
            for m in rows(Message, Message.created_at)
        ],
        "calls": [
            {
                "direction": c.direction.value,
                "purpose": c.purpose.value,
                "status": c.status.value,
                "duration": c.duration,
                "at": _when(c.created_at),
            }
            for c in rows(Call, Call.created_at)
        ],
        "recordings": [
            {
                "kind": r.kind.value,
                "duration": r.duration,
                "kept": bool(r.url),
                "at": _when(r.created_at),
            }
            for r in rows(Recording, Recording.created_at)
        ],
        "help_requests": [
            {
                "category": h.category.value,
                "text": h.text,
                "status": h.status.value,
                "at": _when(h.created_at),
            }
            for h in rows(HelpRequest, HelpRequest.created_at)
        ],
        "contacts": [
            {"kind": c.kind.value, "date": _when(c.contact_date), "note": c.note}
            for c in rows(ContactLog, ContactLog.contact_date)
        ],
        "notices": [
            {"version": n.version, "channel": n.channel.value, "at": _when(n.at)}
            for n in rows(PrivacyNotice, PrivacyNotice.at)
        ],
    }


def erase_member(session: Session, member: Member, now: datetime) -> dict[str, int]:
    """Erase a member who has left the programme, keeping a tombstone: the row with its id,
    branch, membership status and dates (when registered, left, erased), and the facts the
    programme counts (reports' months and whether studied, calls, help requests' categories
    and statuses, contacts' dates). Returns how many of each were cleared."""
    if member.active:
        raise PrivacyError(
            "只能删除已离开本平台的党员的信息,请先将其标为不在册",
            "Only a member who has left the programme can be erased: mark them inactive first",
        )
    if member.erased_at is not None:
        raise PrivacyError("该党员的信息已删除", "This member was already erased")
    cleared: dict[str, int] = {}
    member.name = ERASED_NAME
    member.phone = f"{ERASED_PHONE}{member.id}"
    member.phone_invalid_at = member.phone_invalid_at or now  # nothing is sent there
    member.opted_out_at = member.opted_out_at or now
    for column in (
        "other_phone",
        "sex",
        "birth_year",
        "education",
        "occupation",
        "industry",
        "employer",
        "city",
        "province",
        "reason",
        "card_no",
        "window_start",
        "window_end",
        "liaison_id",
        "host_org_id",
    ):
        setattr(member, column, None)
    member.erased_at = now
    by_member = {"member_id": member.id}
    history = list(session.scalars(select(MemberChange).filter_by(member_id=member.id)))
    for change in history:
        session.delete(change)
    cleared["history"] = len(history)
    messages = list(session.scalars(select(Message).filter_by(**by_member)))
    for message in messages:
        message.body = ""
        message.reply_body = None
        message.params = None
        message.phone = member.phone
    cleared["messages"] = len(messages)
    recordings = list(session.scalars(select(Recording).filter_by(**by_member)))
    for recording in recordings:
        recording.url = ""
        recording.phone = None
        recording.deleted_at = recording.deleted_at or now
    cleared["recordings"] = len(recordings)
    calls = list(session.scalars(select(Call).filter_by(**by_member)))
    for call in calls:
        call.phone = member.phone
        call.state = {}
    cleared["calls"] = len(calls)
    reports = list(session.scalars(select(Report).filter_by(**by_member)))
    for report in reports:
        report.city = None
        report.employer = None
    cleared["reports"] = len(reports)
    requests = list(session.scalars(select(HelpRequest).filter_by(**by_member)))
    for request in requests:
        request.text = ""
        request.resolution = None
    request_ids = [r.id for r in requests]
    if request_ids:
        for note in session.scalars(
            select(HelpNote).where(HelpNote.help_request_id.in_(request_ids))
        ):
            note.text = ""
    cleared["help_requests"] = len(requests)
    contacts = list(session.scalars(select(ContactLog).filter_by(**by_member)))
    for contact in contacts:
        contact.note = ""
    cleared["contacts"] = len(contacts)
    deeds = list(session.scalars(select(Deed).filter_by(**by_member)))
    for deed in deeds:
        deed.text = ""
    cleared["deeds"] = len(deeds)
    session.execute(delete(PhoneChange).where(PhoneChange.member_id == member.id))
    session.execute(delete(Conversation).where(Conversation.member_id == member.id))
    return cleared


# --- access review ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserReview:
    """One user as the township's access review shows them."""

    user: User
    views: int
    exports: int


def access_review(session: Session, township: Organization, now: datetime) -> list[UserReview]:
    """Every user of the township and its branches and hosts: last login, role, and how many
    views and exports in the last REVIEW_DAYS days, least recently used first."""
    org_ids = subtree_ids(session, township.id)
    since = now - timedelta(days=REVIEW_DAYS)
    users = list(
        session.scalars(select(User).where(User.org_id.in_(org_ids)).order_by(User.username))
    )
    counts: dict[tuple[int | None, AuditAction], int] = {}
    for user_id, action, count in session.execute(
        select(AuditLog.user_id, AuditLog.action, func.count())
        .where(
            AuditLog.user_id.in_([u.id for u in users]),
            AuditLog.action.in_((AuditAction.VIEW, AuditAction.EXPORT, AuditAction.REVEAL)),
            AuditLog.at >= since,
        )
        .group_by(AuditLog.user_id, AuditLog.action)
    ):
        counts[(user_id, action)] = count
    return [
        UserReview(
            u,
            counts.get((u.id, AuditAction.VIEW), 0) + counts.get((u.id, AuditAction.REVEAL), 0),
            counts.get((u.id, AuditAction.EXPORT), 0),
        )
        for u in users
    ]


def user_activity(session: Session, user: User, now: datetime) -> list[AuditLog]:
    """What a user viewed, revealed and exported in the last REVIEW_DAYS days, newest first."""
    return list(
        session.scalars(
            select(AuditLog)
            .where(
                AuditLog.user_id == user.id,
                AuditLog.action.in_((AuditAction.VIEW, AuditAction.EXPORT, AuditAction.REVEAL)),
                AuditLog.at >= now - timedelta(days=REVIEW_DAYS),
            )
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .limit(500)
        )
    )


__all__ = [
    "NOTICE_TEMPLATE",
    "NOTICE_VERSION",
    "RETENTION_DEFAULTS",
    "NoticeChannel",
    "PrivacyError",
    "PrivacyNotice",
    "Removed",
    "RetentionRun",
    "UserReview",
    "access_review",
    "apply_retention",
    "check_retention",
    "erase_member",
    "has_notice",
    "mask_phone",
    "member_file",
    "months_before",
    "nightly",
    "record_notice",
    "retention_rules",
    "sees_full_numbers",
    "set_retention",
    "user_activity",
]
