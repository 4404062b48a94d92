"""Broadcast notices from a township or branch to a target group of members."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    Numeric,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, lazyload, mapped_column

from models.approval import (
    ApprovalError,
    approval_reasons,
    approval_rule,
    check_reason,
)
from models.audit import AuditAction, audit
from models.base import Base, enum_type, utcnow
from models.caps import HoldReason
from models.cycle import CycleRules, may_contact, next_contact_time, rules_for
from models.member import Language, Member
from models.message import Direction, Message, MessageStatus
from models.notice import PrivacyNotice
from models.org import Organization, OrgKind, township_of
from models.outbox import TEMPLATE_RULES_KEY, send_notice_first
from models.segments import count_segments, estimate_cost, signed_text
from models.sms_templates import (
    PreparedSms,
    Registry,
    TemplateError,
    TemplateRules,
    prepare,
    registry,
)
from models.sql import Raw, Sql
from models.targets import (
    BilingualError,
    Target,
    resolve_reachable,
    target_members,
)
from models.templates import render
from models.user import Role, User


class BroadcastStatus(enum.StrEnum):
    """Where a broadcast is."""

    PENDING = "pending"  # waiting for a township user's approval (models.approval)
    RETURNED = "returned"  # not approved: back to its author with a reason, never sent
    SCHEDULED = "scheduled"
    RESOLVING = "resolving"  # recipients being written to the outbox
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Broadcast(Base):
    """A notice stored first, then resolved into outbox rows and sent in batches."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)  # as a member reads it (a form's, filled)
    # A notice with fields (NOTICE_FORMS): its template key and the values; None: free text.
    template_key: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[BroadcastStatus] = mapped_column(
        enum_type(BroadcastStatus), default=BroadcastStatus.SCHEDULED
    )
    scheduled_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    # Urgent (a township's choice, audited): sent at once, whatever the members' windows.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # Essential: a member whose text fails is called and hears it (models.fallback).
    essential: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # Approval up the chain: why it had to wait ("members", "cost"), the cost estimated when
    # it was written, and who decided when (with the reason of a return).
    approval_reasons: Mapped[list[str] | None] = mapped_column(JSON)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    return_reason: Mapped[str | None] = mapped_column(Text)


REPLY_LINK_DAYS = 3  # a text within this many days of a notice asking for answers may answer it
MAX_TEXT_CHARS = 1600  # the most one SMS body may hold, split into segments
SCHEDULE_SLACK = timedelta(minutes=1)  # "now" typed a moment ago is not in the past
PART_SIZE = 2000  # members per send part: part n holds member ids [n*2000, (n+1)*2000)

_PROGRESS_KEYS = ("recipients", "queued", "sending", "sent", "delivered", "failed", "skipped")


class BroadcastError(BilingualError):
    """A broadcast that cannot be sent as asked (message in Chinese, then English)."""


# Why a template provider cannot carry a notice, for the composer (models.sms_templates' reasons).
_TEMPLATE_REASONS = {
    "link": (
        "通知中不能含有网址:模板短信不允许链接",
        "A notice sent by template may not hold a link",
    ),
    "brackets": ("通知中不能含有【】", "A notice sent by template may not hold 【 or 】"),
    "message_too_long": (
        "通知太长:模板短信连签名最多500字",
        "The notice is too long: a template text holds at most 500 characters with the signature",
    ),
    "too_long": (
        "通知中有一句话太长,模板短信放不下:请用标点分成短句",
        "A sentence of the notice is too long for the template: split it with punctuation",
    ),
}


@dataclass(frozen=True)
class NoticeField:
    """One field of a notice form: a template variable, with its label."""

    name: str
    zh: str
    en: str


@dataclass(frozen=True)
class NoticeForm:
    """A notice with fields: a template key of models/templates.py, its title and fields."""

    key: str
    zh: str
    en: str
    fields: tuple[NoticeField, ...]


_DATE = NoticeField("date", "时间", "When")
_PLACE = NoticeField("place", "地点", "Where")
# The notices with fields the composer offers; under a template provider only the approved
# ones (`offered_notices`), so a township can send without free text being approved.
NOTICE_FORMS: dict[str, NoticeForm] = {
    form.key: form
    for form in (
        NoticeForm(
            "notice_meeting",
            "会议通知",
            "Meeting",
            (_DATE, _PLACE, NoticeField("topic", "会议内容", "What meeting")),
        ),
        NoticeForm(
            "notice_deadline",
            "截止提醒",
            "Deadline",
            (NoticeField("date", "截止时间", "By when"), NoticeField("task", "事项", "What to do")),
        ),
        NoticeForm("notice_training", "春节集中学习", "Spring Festival training", (_DATE, _PLACE)),
    )
}
FREE_TEXT = "broadcast"  # the free-text notice's template key


def offered_notices(
    rules: TemplateRules | None, *, sandbox: bool, source: Registry | None = None
) -> tuple[list[NoticeForm], bool]:
    """The notice forms the composer offers, and whether it offers free text. Without a
    template provider: free text only. Under one: the forms (and the free-text notice) whose
    first template the provider approved; against the sandbox, all of them."""
    if rules is None:
        return [], True

    def offered(key: str) -> bool:
        forms = (source or registry()).forms(rules.provider, key)
        return bool(forms) and (sandbox or forms[0].approved)

    return [form for form in NOTICE_FORMS.values() if offered(form.key)], offered(FREE_TEXT)


def notice_text(key: str, params: Mapping[str, str], language: str = "zh_CN") -> str:
    """A notice form filled, as a member reads it after the signature."""
    return render(key, language, **params)


def notice_values(key: str, given: Mapping[str, str]) -> dict[str, str]:
    """A form's values, trimmed; BroadcastError naming the first field left empty."""
    form = NOTICE_FORMS.get(key)
    if form is None:
        raise BroadcastError("没有这种通知模板", f"There is no notice form {key!r}")
    values = {}
    for field in form.fields:
        value = " ".join(str(given.get(field.name) or "").split())
        if not value:
            raise BroadcastError(f"请填写{field.zh}", f"Fill in {field.en}")
        values[field.name] = value
    return values


def broadcast_template(
    session: Session, text: str, key: str = FREE_TEXT, params: Mapping[str, str] | None = None
) -> PreparedSms | None:
    """The notice as the township's template provider would send it (None: it sends text);
    BroadcastError when no template can carry it. `key` and `params`: a notice form's."""
    rules: TemplateRules | None = session.info.get(TEMPLATE_RULES_KEY)
    if rules is None:
        return None
    try:
        return prepare(rules, key, {"text": text} if params is None else params)
    except TemplateError as exc:
        zh, en = _TEMPLATE_REASONS.get(
            exc.reason, ("通知无法用短信模板发送", "No approved template can carry this notice")
        )
        raise BroadcastError(f"{zh}({exc.code})", f"{en} ({exc.code})") from exc


def composer_wrap(session: Session, sign_name: str) -> str | None:
    """What a member reads around a notice under a template provider (`{text}` where the
    notice goes, the signature first), for the composer's count; None when it sends text."""
    rules: TemplateRules | None = session.info.get(TEMPLATE_RULES_KEY)
    if rules is None:
        return None
    forms = registry().forms(rules.provider, "broadcast")
    if not forms:
        return None
    return signed_text(sign_name, forms[0].fill({name: "{text}" for name in forms[0].variables}))


def broadcast_segments(
    session: Session, text: str, key: str = FREE_TEXT, params: Mapping[str, str] | None = None
) -> int:
    """The segments each member's copy of a notice costs (with the signature, for templates)."""
    prepared = broadcast_template(session, text, key, params)
    return count_segments(text).segments if prepared is None else prepared.segments.segments


def create_broadcast(
    session: Session,
    *,
    org: Organization,
    author_id: int | None,
    text: str,
    target: dict[str, Any] | None,
    scheduled_at: datetime | None,
    now: datetime,
    urgent: bool = False,
    via: str | None = None,
    template_key: str | None = None,
    params: Mapping[str, str] | None = None,
    price: Decimal = Decimal(0),
    essential: bool = False,
) -> Broadcast:
    """Store a broadcast to be resolved at `scheduled_at` (None: now) and sent to each member
    inside their contact window; an urgent one (a township's only) to everyone at once.

    A notice over the township's approval thresholds (models.approval: members targeted, or
    its cost at `price` a segment) is stored as pending: nothing goes until a township user
    other than the author approves it (approve_broadcast).

    A notice form (`template_key` of NOTICE_FORMS, with `params`) is sent as that template;
    its filled text is the broadcast's text.

    Nothing is queued here: the caller commits, then enqueues the resolution. The audit entry
    names the author, or `via` (the command line) when there is none, and the urgent choice.
    """
    values: dict[str, str] | None = None
    if template_key is not None:
        values = notice_values(template_key, params or {})
        text = notice_text(template_key, values)
    text = (text or "").strip()
    if not text:
        raise BroadcastError("通知内容不能为空", "The notice text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise BroadcastError(
            f"通知太长:{len(text)}字,最多{MAX_TEXT_CHARS}字",
            f"The notice is too long: {len(text)} characters, at most {MAX_TEXT_CHARS}",
        )
    when = scheduled_at or now
    if when.tzinfo is None:
        raise BroadcastError("发送时间缺少时区", "The send time has no time zone")
    if when < now - SCHEDULE_SLACK:
        raise BroadcastError("发送时间已经过去", "The send time is in the past")
    if urgent and org.kind is not OrgKind.TOWNSHIP:
        raise BroadcastError(
            "只有乡镇党委可以发送紧急通知", "Only a township may send an urgent notice"
        )
    segments = broadcast_segments(session, text, template_key or FREE_TEXT, values)
    resolved, total, reachable = resolve_reachable(
        session,
        org,
        target,
        BroadcastError,
        ("目标中没有可以接收通知的成员", "The target reaches no member who can receive it"),
    )
    cost = estimate_cost(segments, reachable, price)
    reasons = approval_reasons(approval_rule(township_of(session, org)), org, total, cost)
    broadcast = Broadcast(
        org_id=org.id,
        author_id=author_id,
        text=text,
        template_key=template_key,
        params=values or {},
        target=resolved.as_dict(),
        status=BroadcastStatus.PENDING if reasons else BroadcastStatus.SCHEDULED,
        approval_reasons=reasons or None,
        cost=cost.quantize(Decimal("0.01")),
        scheduled_at=max(when, now),
        recipients=total,
        segments=segments,
        urgent=urgent,
        essential=essential,
        created_at=now,
    )
    session.add(broadcast)
    session.flush()
    detail: dict[str, Any] = {"recipients": total, "urgent": urgent}
    if essential:
        detail["essential"] = True
    if reasons:
        detail["pending"] = reasons
    if via:
        detail["via"] = via
    audit(session, author_id, AuditAction.SEND, f"broadcast:{broadcast.id}", detail, org_id=org.id)
    return broadcast


def approval_problem(session: Session, broadcast: Broadcast, user: User) -> ApprovalError | None:
    """Why this user may not decide on this notice, or None: it must be pending, the user a
    township user of the notice's township, and not its author."""
    if broadcast.status is not BroadcastStatus.PENDING:
        return ApprovalError("这条通知不在待审批状态", "This notice is not waiting for approval")
    if user.id == broadcast.author_id:
        return ApprovalError("不能审批自己发起的通知", "You cannot approve your own notice")
    org = session.get(Organization, broadcast.org_id)
    assert org is not None  # broadcasts.org_id is a foreign key
    if user.role is not Role.TOWNSHIP or user.org_id != township_of(session, org).id:
        return ApprovalError("只有乡镇用户可以审批", "Only a township user may approve notices")
    return None


def approve_broadcast(session: Session, broadcast: Broadcast, user: User, now: datetime) -> None:
    """Approve a pending notice: it is scheduled (not before now) and audited. The caller
    starts it after the commit (workers.broadcasts.start_broadcast)."""
    problem = approval_problem(session, broadcast, user)
    if problem is not None:
        raise problem
    broadcast.status = BroadcastStatus.SCHEDULED
    broadcast.decided_by_id = user.id
    broadcast.decided_at = now
    broadcast.scheduled_at = max(broadcast.scheduled_at, now)
    audit(
        session,
        user.id,
        AuditAction.APPROVE,
        f"broadcast:{broadcast.id}",
        {"reasons": broadcast.approval_reasons or []},
    )


def return_broadcast(
    session: Session, broadcast: Broadcast, user: User, reason: str, now: datetime
) -> None:
    """Return a pending notice to its author with a reason: it is never sent; audited."""
    problem = approval_problem(session, broadcast, user)
    if problem is not None:
        raise problem
    broadcast.return_reason = check_reason(reason)
    broadcast.status = BroadcastStatus.RETURNED
    broadcast.decided_by_id = user.id
    broadcast.decided_at = now
    audit(
        session,
        user.id,
        AuditAction.RETURN,
        f"broadcast:{broadcast.id}",
        {"reason": broadcast.return_reason},
    )


@dataclass(frozen=True)
class _Window:
    """A member's own contact window as stored (None: the township's)."""

    window_start: str | None
    window_end: str | None


class Windows:
    """Members' contact windows under their township's rules (read once per branch).

    The rule itself is models.cycle's (`may_contact`, `next_contact_time`); this only feeds it
    plain rows, so a broadcast to 100,000 members loads no Member objects.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rules: dict[int, CycleRules] = {}

    def rules(self, branch_id: int) -> CycleRules:
        """The cycle rules that apply to a branch's members."""
        if branch_id not in self._rules:
            branch = self.session.get(Organization, branch_id)
            assert branch is not None  # members.branch_id is a foreign key
            self._rules[branch_id] = rules_for(township_of(self.session, branch), branch)
        return self._rules[branch_id]

    def not_before(
        self, branch_id: int, start: str | None, end: str | None, now: datetime
    ) -> datetime | None:
        """None if the member may be texted now, else the first moment they may."""
        rules, window = self.rules(branch_id), _Window(start, end)
        if may_contact(window, rules, now):
            return None
        return next_contact_time(window, rules, now)


def send_times(
    session: Session, org_id: int, target: Target, at: datetime, *, urgent: bool = False
) -> tuple[datetime, datetime]:
    """When a notice asked for `at` goes out: the first and the last member's first moment
    inside their contact window (both `at` when urgent or everyone's window is open)."""
    if urgent:
        return at, at
    rows = session.execute(
        select(Member.branch_id, Member.window_start, Member.window_end)
        .where(
            Member.id.in_(target_members(session, org_id, target)),
            Member.opted_out_at.is_(None),
            Member.phone_invalid_at.is_(None),
        )
        .distinct()
    ).all()
    windows = Windows(session)
    times = [windows.not_before(b, start, end, at) or at for b, start, end in rows] or [at]
    return min(times), max(times)


def broadcast_send_times(session: Session, broadcast: Broadcast) -> tuple[datetime, datetime]:
    """send_times of a stored broadcast, from its scheduled time."""
    return send_times(
        session,
        broadcast.org_id,
        Target.from_dict(broadcast.target),
        broadcast.scheduled_at,
        urgent=broadcast.urgent,
    )


def _target_of(session: Session, broadcast: Broadcast) -> Select[int]:
    return target_members(session, broadcast.org_id, Target.from_dict(broadcast.target))


def next_part(session: Session, broadcast: Broadcast, after: int | None) -> int | None:
    """The number of the first part after part `after` that holds a recipient, or None."""
    ids = _target_of(session, broadcast)
    if after is not None:
        ids = ids.where(Member.id >= (after + 1) * PART_SIZE)
    first = session.scalar(ids.order_by(Member.id).limit(1))
    return None if first is None else int(first) // PART_SIZE


def _part_clause(part: int) -> Any:
    return and_(Member.id >= part * PART_SIZE, Member.id < (part + 1) * PART_SIZE)


def resolve_recipients(session: Session, broadcast: Broadcast, part: int) -> list[Member]:
    """The members of one part (ids [part*PART_SIZE, (part+1)*PART_SIZE)) the broadcast reaches."""
    ids = _target_of(session, broadcast).where(_part_clause(part))
    return list(
        session.scalars(
            select(Member)
            .where(Member.id.in_(ids))
            .order_by(Member.id)
            .options(lazyload(Member.branch))
        )
    )


def write_outbox_part(session: Session, broadcast: Broadcast, part: int, now: datetime) -> int:
    """Write the outbox rows of one part in one INSERT ... SELECT; a row already there is
    left alone.

    Returns how many rows were written. Resolving a part twice writes nothing the second time
    (unique broadcast_id, member_id). Opted-out, inactive or invalid numbers are written as
    skipped, so progress shows them. A member outside their contact window now gets a row not
    to be sent before the window opens (`next_attempt_at`), unless the notice is urgent.

    The rows are made by the database from the members' own: what differs between members
    (the text by language, skipped or queued, the window's opening by branch and window) is
    worked out once per distinct value here, and handed in as CASE expressions.
    """
    target = _target_of(session, broadcast).where(_part_clause(part))
    in_part = Member.id.in_(target)
    template_key = broadcast.template_key or FREE_TEXT
    params = dict(broadcast.params) if broadcast.template_key else {"text": broadcast.text}
    try:
        prepared = broadcast_template(session, broadcast.text, template_key, params)
    except BroadcastError:
        prepared = None  # the registry changed since: each row fails at sending, with why
    bodies: dict[str, tuple[str, int]] = {}
    for language in Language:
        if prepared is not None:  # one approved template, whatever the member's language
            bodies[language.value] = (prepared.text, prepared.segments.segments)
        else:
            body = render(template_key, language.value, **params)
            bodies[language.value] = (body, count_segments(body).segments)
    blocked = or_(
        Member.opted_out_at.is_not(None),
        Member.active.is_(False),
        Member.phone_invalid_at.is_not(None),
    )
    table = cast(Table, Message.__table__)
    columns = table.c

    def by_language(index: int, column: Any) -> Any:
        texts = {language: value[index] for language, value in bodies.items()}
        if len(set(texts.values())) == 1:
            return literal(next(iter(texts.values())), column.type)
        return case(
            *(
                (Member.language == language, literal(v, column.type))
                for language, v in texts.items()
            ),
            else_=literal(texts[Language.ZH.value], column.type),
        )

    rows = (
        select(
            literal(Direction.OUT, columns.direction.type),
            Member.id,
            Member.phone,
            by_language(0, columns.body),
            literal(template_key, columns.template_key.type),
            literal(params, columns.params.type),
            by_language(1, columns.segments),
            literal(False, columns.essential.type),
            literal(broadcast.id, columns.broadcast_id.type),
            case(
                (blocked, literal(MessageStatus.SKIPPED, columns.status.type)),
                else_=literal(MessageStatus.QUEUED, columns.status.type),
            ),
            literal(0, columns.attempts.type),
            _window_openings(
                session, broadcast, in_part, blocked, now, columns.next_attempt_at.type
            ),
            literal(False, columns.handled.type),
            literal(now, columns.created_at.type),
        )
        .where(in_part)
        .order_by(Member.id)
    )
    dialect = session.get_bind().dialect.name
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert_fn(table).from_select(
        [
            "direction",
            "member_id",
            "phone",
            "body",
            "template_key",
            "params",
            "segments",
            "essential",
            "broadcast_id",
            "status",
            "attempts",
            "next_attempt_at",
            "handled",
            "created_at",
        ],
        rows,
    )
    stmt = stmt.on_conflict_do_nothing(
        index_elements=["broadcast_id", "member_id"], index_where=text("direction = 'out'")
    )
    # RETURNING names only the rows inserted (a conflict inserts none); rowcount is not
    # reliable for an INSERT ... SELECT on every driver.
    written = len(session.connection().execute(stmt.returning(table.c.id)).all())
    if written:
        _notice_untold(session, in_part, now)
    return written


def _window_openings(
    session: Session, broadcast: Broadcast, in_part: Any, blocked: Any, now: datetime, kind: Any
) -> Any:
    """The `next_attempt_at` of each member's row, as SQL: when their window next opens if
    it is shut now (NULL: now, or never held, for an urgent notice or a skipped row)."""
    nothing = literal(None, kind)
    if broadcast.urgent:
        return nothing
    windows = Windows(session)
    whens = []
    for branch_id, start, end in session.execute(
        select(Member.branch_id, Member.window_start, Member.window_end)
        .where(in_part, ~blocked)
        .distinct()
    ):
        opens = windows.not_before(branch_id, start, end, now)
        if opens is None:
            continue
        whens.append(
            (
                and_(
                    Member.branch_id == branch_id,
                    Member.window_start.is_(None)
                    if start is None
                    else Member.window_start == start,
                    Member.window_end.is_(None) if end is None else Member.window_end == end,
                ),
                literal(opens, kind),
            )
        )
    if not whens:
        return nothing
    return case((blocked, nothing), *whens, else_=nothing)


def _notice_untold(session: Session, in_part: Any, now: datetime) -> None:
    """The privacy notice for the reachable members of a part never told what is kept (few:
    the register import records it for the members it brings), queued beside the notice's
    rows and handed on by the outbox sweep."""
    untold = session.scalars(
        select(Member)
        .where(
            in_part,
            Member.opted_out_at.is_(None),
            Member.active.is_(True),
            ~exists().where(PrivacyNotice.member_id == Member.id),
        )
        .order_by(Member.id)
        .options(lazyload(Member.branch))
    ).all()
    for member in untold:
        send_notice_first(session, member, at=now)


class RowFacts(NamedTuple):
    """What the sending gates check of an outbox row: its number and text (the caps), its
    member's branch and window (the window, and the caps' township and next day)."""

    phone: str
    body: str
    branch_id: int | None  # None: a text to a number without a member
    window_start: str | None
    window_end: str | None
    windowed: bool  # a row of a notice that is not urgent, to a member: it keeps the window


class DueRows(NamedTuple):
    """Rows to send, in order, as (id, segments), with their facts for the gates."""

    rows: list[tuple[int, int]]
    facts: dict[int, RowFacts]


# The facts are read on the driver (models.sql) with the rows themselves: a notice's part
# is 2,000 rows, and the ORM's work per row cost more than the query. The direction is a
# literal, so SQLite can use the partial (broadcast, member) index; the status is tested so
# that no index serves it (as workers.sending's claim does), or SQLite may walk every queued
# row of the notice through the (status, next_attempt_at) index instead.
_FACTS = """
    SELECT messages.id, messages.segments, messages.phone, messages.body,
           members.branch_id, members.window_start, members.window_end, broadcasts.urgent
    FROM messages
    LEFT OUTER JOIN members ON members.id = messages.member_id
    LEFT OUTER JOIN broadcasts ON broadcasts.id = messages.broadcast_id
"""
_PART = Sql(
    f"""{_FACTS}
    WHERE messages.broadcast_id = :broadcast AND messages.direction = '{Direction.OUT.value}'
      AND messages.member_id >= :low AND messages.member_id < :high
      AND messages.status || '' = '{MessageStatus.QUEUED.value}'
      AND (messages.next_attempt_at IS NULL OR messages.next_attempt_at <= :now)
    ORDER BY messages.member_id
    """
)


def _facts_of(rows: Iterable[Any]) -> DueRows:
    due = []
    facts = {}
    for message_id, segments, phone, body, branch_id, start, end, urgent in rows:
        due.append((message_id, segments))
        windowed = branch_id is not None and urgent is not None and not urgent
        facts[message_id] = RowFacts(phone, body, branch_id, start, end, windowed)
    return DueRows(due, facts)


def part_rows(session: Session, broadcast_id: int, part: int, now: datetime) -> DueRows:
    """This part's rows that are queued and due, in member order, with their facts (one
    query)."""
    raw = Raw.of(session.connection())
    params = {
        "broadcast": broadcast_id,
        "low": part * PART_SIZE,
        "high": (part + 1) * PART_SIZE,
        "now": raw.time(now),
    }
    return _facts_of(raw.run(_PART, params).fetchall())


def row_facts(session: Session, message_ids: list[int]) -> dict[int, RowFacts]:
    """The facts of these rows, whatever they are (one query; the ids are whole numbers
    written into the text)."""
    if not message_ids:
        return {}
    listed = ",".join(str(int(message_id)) for message_id in message_ids)
    raw = Raw.of(session.connection())
    return _facts_of(raw.run(Sql(f"{_FACTS} WHERE messages.id IN ({listed})"), {}).fetchall()).facts


def _outbound(broadcast_id: int) -> Any:
    """The broadcast's own rows: one outbound row per member (replies linked to it are not)."""
    return and_(Message.broadcast_id == broadcast_id, Message.direction == Direction.OUT)


class WindowGate:
    """Whether broadcast rows may be sent at a moment: each member inside their contact window.

    Checked again right before each row is sent, so a long broadcast stops at a window's end
    and the rest wait for the next one. Rows of urgent notices and rows that are not a
    broadcast's always pass.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.windows = Windows(session)
        self._members: dict[int, tuple[int, str | None, str | None]] = {}

    def know(self, facts: Mapping[int, RowFacts]) -> None:
        """Take in the windows of these rows' members (read with the rows: no query)."""
        for message_id, row in facts.items():
            if row.windowed and row.branch_id is not None:
                self._members[message_id] = (row.branch_id, row.window_start, row.window_end)

    def not_before(self, message_id: int, now: datetime) -> datetime | None:
        """None if the row may be sent now, else the first moment it may."""
        member = self._members.get(message_id)
        if member is None:
            return None
        return self.windows.not_before(*member, now)

    def held(self, message_ids: Iterable[int], now: datetime) -> dict[int, datetime]:
        """The rows that may not be sent now, each with the first moment it may (a window
        shared by many members is worked out once)."""
        seen: dict[tuple[int, str | None, str | None], datetime | None] = {}
        later: dict[int, datetime] = {}
        for message_id in message_ids:
            member = self._members.get(message_id)
            if member is None:
                continue
            if member not in seen:
                seen[member] = self.windows.not_before(*member, now)
            at = seen[member]
            if at is not None:
                later[message_id] = at
        return later


def hold_rows(session: Session, held: dict[int, tuple[datetime, HoldReason]]) -> None:
    """Leave these queued rows for later: not before the time given for each, and why."""
    if not held:
        return
    table = cast(Table, Message.__table__)
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == MessageStatus.QUEUED.value)
        .values(next_attempt_at=bindparam("b_at"), hold_reason=bindparam("b_reason")),
        [
            {"b_id": message_id, "b_at": at, "b_reason": reason.value}
            for message_id, (at, reason) in held.items()
        ],
    )


def finish_resolving(session: Session, broadcast: Broadcast) -> None:
    """All parts are written: the broadcast is sending, with its final number of recipients."""
    broadcast.recipients = (
        session.scalar(
            select(func.count(func.distinct(Message.member_id))).where(_outbound(broadcast.id))
        )
        or 0
    )
    if broadcast.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.RESOLVING):
        broadcast.status = BroadcastStatus.SENDING
    finish_if_done(session, broadcast, utcnow())


def finish_if_done(session: Session, broadcast: Broadcast, now: datetime) -> bool:
    """Mark a sending broadcast done once no row is queued or being sent."""
    if broadcast.status is not BroadcastStatus.SENDING:
        return broadcast.status is BroadcastStatus.DONE
    open_rows = session.scalar(
        select(Message.id)
        .where(
            Message.broadcast_id == broadcast.id,
            Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
        )
        .limit(1)
    )
    if open_rows is not None:
        return False
    broadcast.status = BroadcastStatus.DONE
    broadcast.finished_at = now
    return True


def broadcast_progress(session: Session, broadcast_id: int) -> dict[str, int]:
    """How far a broadcast has gone: members reached, each counted once, by the state of the
    message to them.

    Only the broadcast's outbound rows count (a reply linked to the notice is not a
    recipient), and a member's latest row only, so a member is never counted twice.
    Recipients not yet written to the outbox count as queued; undelivered counts as failed.
    """
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise BroadcastError(f"没有编号为{broadcast_id}的通知", f"No broadcast {broadcast_id}")
    counts = dict.fromkeys(_PROGRESS_KEYS, 0)
    latest = select(func.max(Message.id)).where(_outbound(broadcast_id)).group_by(Message.member_id)
    rows = session.execute(
        select(Message.status, func.count(Message.id))
        .where(Message.id.in_(latest))
        .group_by(Message.status)
    ).all()
    written = 0
    for status, number in rows:
        written += number
        key = "failed" if status is MessageStatus.UNDELIVERED else status.value
        if key in counts:
            counts[key] += number
    counts["recipients"] = max(broadcast.recipients, written)
    counts["queued"] += counts["recipients"] - written
    return counts


# --- which notice a member's text answers --------------------------------------------------
#
# A text answers a notice when the notice asked for an answer (its text says 回复 / reply), it
# reached the member (sent or delivered) within REPLY_LINK_DAYS, and it is the newest such
# notice. The SMS handler also lets a question asked the member after the notice take the text
# first, and carries out keyword commands as commands (see sms_flows.conversation).
_ASKS_FOR_REPLY = re.compile(r"回复|答复|回信|回个?短信|\breply\b|\banswer\b", re.IGNORECASE)


def asks_for_reply(text: str) -> bool:
    """Whether a notice's text asks its members to answer it."""
    return _ASKS_FOR_REPLY.search(text or "") is not None


@dataclass(frozen=True, slots=True)
class NoticeSent:
    """A notice a member was sent: which, and when it reached them."""

    broadcast_id: int
    sent_at: datetime


# Notices sent to a member since :since, newest first; a handful at most in 3 days.
_SENT_TO = Sql(
    """SELECT m.broadcast_id, COALESCE(m.sent_at, m.created_at) AS reached, b.text
    FROM messages m JOIN broadcasts b ON b.id = m.broadcast_id
    WHERE m.member_id = :member_id AND m.direction = :out AND m.broadcast_id IS NOT NULL
        AND m.status IN (:sending, :sent, :delivered) AND m.created_at >= :oldest
        AND COALESCE(m.sent_at, m.created_at) >= :since AND COALESCE(m.sent_at, m.created_at) <= :now
    ORDER BY reached DESC, m.id DESC"""
)
# A notice may wait in the outbox for the member's window; it is not older than this.
_OUTBOX_WAIT = timedelta(days=7)


def reply_link_since(now: datetime) -> datetime:
    """How far back a notice may have reached a member for a text now to answer it."""
    return now - timedelta(days=REPLY_LINK_DAYS)


def notice_awaiting_reply(raw: Raw, member_id: int, now: datetime) -> NoticeSent | None:
    """The notice a member's text now may answer: the newest that asked for an answer and
    reached them in the last REPLY_LINK_DAYS days, or None."""
    since = reply_link_since(now)
    cursor = raw.run(
        _SENT_TO,
        {
            "member_id": member_id,
            "out": Direction.OUT.value,
            "sending": MessageStatus.SENDING.value,
            "sent": MessageStatus.SENT.value,
            "delivered": MessageStatus.DELIVERED.value,
            "oldest": raw.time(since - _OUTBOX_WAIT),
            "since": raw.time(since),
            "now": raw.time(now),
        },
    )
    rows = cursor.fetchall()
    if raw.sqlite:
        cursor.close()
    for broadcast_id, at, notice_text in rows:
        if asks_for_reply(notice_text):
            sent_at = raw.read_time(at)
            assert sent_at is not None
            return NoticeSent(int(broadcast_id), sent_at)
    return None


def notice_awaiting_reply_for(session: Session, member_id: int, now: datetime) -> NoticeSent | None:
    """notice_awaiting_reply for callers working with a Session."""
    session.flush()
    return notice_awaiting_reply(Raw.of(session.connection()), member_id, now)
