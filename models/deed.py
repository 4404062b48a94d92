"""Deeds for home (五个一) and the tips board (致富信息), confirmed by the branch or host.

A member logs a deed by SMS (`GX 4 帮同乡找到工作`) or by keypad (the item, then spoken). Item
1 of 五个一 is "send home a tip for getting richer": such a deed is a tip, and once the branch
approves it, it is on the tips board that members hear by keypad. Every deed waits for the
branch (or the host organisation the member lives under) to confirm or decline it; a declined
deed keeps the reason. A spoken deed or tip under MIN_RECORDING_SECONDS is kept but never
offered for confirmation (a hang-up, a cough). A member does not confirm their own deed, and
staff do not approve a tip they typed themselves.

The yearly review's exemplary mark (树形象) lives here too: one per member and year.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow
from models.call import Recording
from models.member import Member
from models.org import subtree_ids
from models.report import Channel
from models.targets import BilingualError

MIN_RECORDING_SECONDS = 2  # a shorter recording is not offered for confirmation
MAX_TEXT_CHARS = 500
MAX_REASON_CHARS = 200
TIP_ITEM = 1  # 五个一 item 1: send home a tip for getting richer


class DeedItem(enum.IntEnum):
    """The five ones (五个一); the number is the SMS and keypad choice."""

    TIP = 1  # 捎回一条致富信息
    PERSUADE = 2  # 做通一人思想工作
    RECRUIT = 3  # 培养一名入党积极分子
    JOB = 4  # 帮助一人外出务工
    GOOD_DEED = 5  # 为村里或困难户办一件好事


ITEM_NAMES: dict[str, dict[int, str]] = {
    "zh_CN": {1: "致富信息", 2: "思想工作", 3: "培养积极分子", 4: "帮人务工", 5: "办好事"},
    "en": {1: "tip", 2: "persuasion", 3: "new activist", 4: "job found", 5: "good deed"},
}


def item_name(item: int, language: str | None) -> str:
    """The item of 五个一 as the member's texts name it."""
    names = ITEM_NAMES.get(language or "zh_CN", ITEM_NAMES["zh_CN"])
    return names.get(item, str(item))


class TipTopic(enum.StrEnum):
    """What a tip is about; the digit is the keypad choice on the tips board."""

    FARMING = "farming"  # 1 种植养殖
    JOBS = "jobs"  # 2 务工就业
    BUSINESS = "business"  # 3 创业经营
    MARKET = "market"  # 4 市场行情
    OTHER = "other"  # 5 其他


TOPIC_BY_DIGIT = {str(i): t for i, t in enumerate(TipTopic, start=1)}


class DeedStatus(enum.StrEnum):
    """Where a deed is: waiting, confirmed (a tip: approved), declined, or never offered."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    UNOFFERED = "unoffered"  # a recording too short to confirm


class Deed(Base):
    """A deed for home (or a tip, item 1), its evidence and who confirmed it."""

    __tablename__ = "deeds"
    __table_args__ = (
        Index("ix_deeds_status_created", "status", "created_at"),
        Index("ix_deeds_member_created", "member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: a tip typed by staff, not sent by a member.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # The branch the deed counts for (the member's, or the staff's organisation).
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    item: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, 8))
    topic: Mapped[TipTopic | None] = mapped_column(enum_type(TipTopic, 16))
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"))
    recording_seconds: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[DeedStatus] = mapped_column(
        enum_type(DeedStatus, 16), default=DeedStatus.PENDING
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    decided_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)
    listens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_tip(self) -> bool:
        """Whether this is a tip for the tips board (item 1)."""
        return self.item == TIP_ITEM

    @property
    def ref(self) -> str:
        """The reference the member is told."""
        return deed_ref(self.id)


class Exemplar(Base):
    """The branch marked a member exemplary (树形象) for a year; the township sees it."""

    __tablename__ = "exemplars"
    __table_args__ = (UniqueConstraint("member_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    year: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    marked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeedError(BilingualError):
    """A deed or a decision on it that cannot be stored as given."""


def deed_ref(deed_id: int) -> str:
    """The reference of a deed, as texted and spoken: GX and its number."""
    return f"GX{deed_id}"


def valid_item(item: int | None) -> bool:
    """Whether a number is an item of 五个一 (1 to 5)."""
    return item is not None and 1 <= item <= len(DeedItem)


def record_deed(
    session: Session,
    *,
    member: Member | None,
    item: int,
    text: str,
    channel: Channel,
    at: datetime | None = None,
    recording_id: int | None = None,
    recording_seconds: int | None = None,
    topic: TipTopic | None = None,
    author_id: int | None = None,
    org_id: int | None = None,
) -> Deed:
    """Keep a deed (a tip when item is 1) waiting for the branch to confirm it.

    A spoken deed with no text whose recording is shorter than MIN_RECORDING_SECONDS is kept
    as UNOFFERED: it is on the member's file but never offered for confirmation.
    """
    if not valid_item(item):
        raise DeedError("项目应为1到5", "The item is 1 to 5")
    text = (text or "").strip()
    if len(text) > MAX_TEXT_CHARS:
        raise DeedError(
            f"内容最多{MAX_TEXT_CHARS}字", f"At most {MAX_TEXT_CHARS} characters of text"
        )
    if not text and recording_id is None:
        raise DeedError("请写明做了什么", "Say what was done")
    branch = member.branch_id if member is not None else org_id
    if branch is None:
        raise DeedError("请选择支部", "Choose the branch")
    status = DeedStatus.PENDING
    if recording_id is not None and not text and (recording_seconds or 0) < MIN_RECORDING_SECONDS:
        status = DeedStatus.UNOFFERED
    deed = Deed(
        member_id=member.id if member is not None else None,
        org_id=branch,
        item=int(item),
        text=text,
        channel=channel,
        topic=(topic or TipTopic.OTHER) if item == TIP_ITEM else None,
        recording_id=recording_id,
        recording_seconds=recording_seconds,
        status=status,
        author_id=author_id,
        created_at=at or utcnow(),
    )
    session.add(deed)
    session.flush()
    return deed


def decide_deed(
    session: Session,
    deed: Deed,
    *,
    confirm: bool,
    reason: str,
    user_id: int,
    user_member_id: int | None,
    org_id: int,
    topic: TipTopic | str | None = None,
    now: datetime | None = None,
) -> bool:
    """Confirm or decline a waiting deed (a tip: approve it, perhaps under another topic).

    Returns whether the member is to be told (a tip of theirs approved). Raises DeedError for
    a deed not waiting, the member's own deed, a tip the user typed, or a decline without a
    reason.
    """
    if deed.status is not DeedStatus.PENDING:
        raise DeedError("这条记录已处理或不能确认", "This entry is already decided or not offered")
    if deed.member_id is not None and deed.member_id == user_member_id:
        raise DeedError("不能确认自己的记录", "You cannot confirm your own deed")
    if deed.author_id is not None and deed.author_id == user_id:
        raise DeedError("不能审核自己录入的信息", "You cannot approve a tip you typed")
    reason = (reason or "").strip()
    if not confirm and not reason:
        raise DeedError("不予确认请写明理由", "Give the reason for declining")
    if len(reason) > MAX_REASON_CHARS:
        raise DeedError(f"理由最多{MAX_REASON_CHARS}字", f"At most {MAX_REASON_CHARS} characters")
    if topic and deed.is_tip:
        try:
            deed.topic = TipTopic(topic)
        except ValueError:
            raise DeedError(f"未知类别:{topic}", f"Unknown topic: {topic}") from None
    deed.status = DeedStatus.CONFIRMED if confirm else DeedStatus.DECLINED
    deed.decline_reason = None if confirm else reason
    deed.decided_by = user_id
    deed.decided_org_id = org_id
    deed.decided_at = now or utcnow()
    if deed.recording_id is not None:
        # Heard and decided here: the recording no longer waits in the inbox.
        session.execute(
            update(Recording).where(Recording.id == deed.recording_id).values(handled=True)
        )
    session.flush()
    return confirm and deed.is_tip and deed.member_id is not None


def approved_tips(
    session: Session, township_id: int, topic: TipTopic, limit: int = 9
) -> list[Deed]:
    """The approved tips of a topic in a township, newest first."""
    orgs = subtree_ids(session, township_id)
    return list(
        session.scalars(
            select(Deed)
            .where(
                Deed.item == TIP_ITEM,
                Deed.status == DeedStatus.CONFIRMED,
                Deed.topic == topic,
                Deed.org_id.in_(sorted(orgs)),
            )
            .order_by(Deed.created_at.desc(), Deed.id.desc())
            .limit(limit)
        )
    )


def count_listen(session: Session, deed_id: int) -> None:
    """One more listen of a tip on the board (a single UPDATE, safe under concurrency)."""
    session.execute(update(Deed).where(Deed.id == deed_id).values(listens=Deed.listens + 1))


def mark_exemplar(
    session: Session,
    member_id: int,
    year: int,
    reason: str,
    user_id: int | None,
    now: datetime | None = None,
) -> Exemplar:
    """Mark a member exemplary (树形象) for a year, with why; marking again updates the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise DeedError("请写明树形象的理由", "Give the reason for the exemplary mark")
    if len(reason) > MAX_REASON_CHARS:
        raise DeedError(f"理由最多{MAX_REASON_CHARS}字", f"At most {MAX_REASON_CHARS} characters")
    mark = session.scalar(
        select(Exemplar).where(Exemplar.member_id == member_id, Exemplar.year == year)
    )
    if mark is None:
        mark = Exemplar(member_id=member_id, year=year)
        session.add(mark)
    mark.reason = reason
    mark.marked_by = user_id
    mark.marked_at = now or utcnow()
    session.flush()
    return mark


def unmark_exemplar(session: Session, member_id: int, year: int) -> bool:
    """Take a member's exemplary mark for a year away; returns whether there was one."""
    mark = session.scalar(
        select(Exemplar).where(Exemplar.member_id == member_id, Exemplar.year == year)
    )
    if mark is None:
        return False
    session.delete(mark)
    session.flush()
    return True


__all__ = [
    "ITEM_NAMES",
    "MIN_RECORDING_SECONDS",
    "TIP_ITEM",
    "TOPIC_BY_DIGIT",
    "Deed",
    "DeedError",
    "DeedItem",
    "DeedStatus",
    "Exemplar",
    "TipTopic",
    "approved_tips",
    "count_listen",
    "decide_deed",
    "deed_ref",
    "item_name",
    "mark_exemplar",
    "record_deed",
    "unmark_exemplar",
    "valid_item",
]
