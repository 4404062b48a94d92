"""Audio lessons, who listened, and lesson call campaigns."""

from __future__ import annotations

import enum
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.audit import AuditAction, audit
from models.base import Base, enum_type, utcnow
from models.cycle import CycleRules, next_contact_time
from models.member import Member
from models.org import Organization
from models.targets import (
    BilingualError,
    Target,
    resolve_reachable,
    target_members,
)


class LessonCategory(enum.StrEnum):
    """The five lesson categories, in keypad order."""

    POLICY = "policy"  # 1 政策法规
    SKILLS = "skills"  # 2 实用技术
    EXPERIENCE = "experience"  # 3 典型经验
    MARKET = "market"  # 4 市场信息
    SCIENCE = "science"  # 5 科普文卫


class VoiceFileState(enum.StrEnum):
    """Where a lesson's audio stands with a provider that plays only files it approved
    (Alibaba Cloud voice: upload, then a review of about two hours)."""

    UPLOADING = "uploading"  # an upload job is on its way
    IN_REVIEW = "in_review"  # uploaded; the provider is reviewing it
    APPROVED = "approved"  # calls may play it
    REJECTED = "rejected"  # the provider refused it (`voice_note` says why)
    FAILED = "failed"  # the upload did not go through (`voice_note` says why)


class LessonPlayback(enum.StrEnum):
    """Which lessons the voice provider's calls can play."""

    ANY = "any"  # a live IVR plays the audio, or reads the text (Twilio, the sandbox)
    APPROVED_FILE = "approved_file"  # only an audio file the provider approved (Alibaba Cloud)
    NONE = "none"  # the calls speak approved templates only, no lesson (Tencent Cloud)


class Lesson(Base):
    """An audio lesson a township or branch published."""

    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    title: Mapped[str] = mapped_column(String(128))
    category: Mapped[LessonCategory] = mapped_column(enum_type(LessonCategory))
    audio_path: Mapped[str | None] = mapped_column(String(512))
    transcript: Mapped[str] = mapped_column(Text, default="")
    duration: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The audio as the township's voice provider knows it (Alibaba's voiceCode), and whether
    # that provider approved it: a lesson call plays only an approved file.
    voice_code: Mapped[str | None] = mapped_column(String(128))
    voice_state: Mapped[VoiceFileState | None] = mapped_column(enum_type(VoiceFileState, 16))
    voice_note: Mapped[str | None] = mapped_column(String(255))
    voice_checked_at: Mapped[datetime | None]

    @property
    def approved_voice_code(self) -> str | None:
        """The provider's code of this lesson's audio, once the provider approved it."""
        return self.voice_code if self.voice_state is VoiceFileState.APPROVED else None

    def unplayable(self, playback: LessonPlayback) -> tuple[str, str] | None:
        """Why calls through a provider with this playback cannot play the lesson (Chinese,
        English); None when they can. The one rule for campaigns and call backs by text."""
        if playback is LessonPlayback.NONE:
            return (
                "当前语音服务只能播放模板语音,不能电话播放课程",
                "The voice provider speaks approved templates only: lessons cannot be played "
                "by phone",
            )
        if playback is LessonPlayback.APPROVED_FILE and self.approved_voice_code is None:
            return (
                f"第{self.id}课的音频尚未通过语音服务审核，审核通过后才能外呼",
                f"Lesson {self.id}'s audio is not approved by the voice provider yet: "
                "calls can start once it is",
            )
        return None


class LessonListen(Base):
    """A member listened to a lesson (credited by the voice flow)."""

    __tablename__ = "lesson_listens"
    __table_args__ = (Index("ix_lesson_listens_member_at", "member_id", "listened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    seconds: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[bool] = mapped_column(default=False)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    listened_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The second of the lesson this listen ended at: the next call resumes from it.
    position: Mapped[int | None] = mapped_column(Integer)


class CampaignStatus(enum.StrEnum):
    """Where a lesson campaign is."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class LessonCampaign(Base):
    """Calls that play one lesson to a target group of members."""

    __tablename__ = "lesson_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[CampaignStatus] = mapped_column(
        enum_type(CampaignStatus), default=CampaignStatus.SCHEDULED
    )
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignMemberStatus(enum.StrEnum):
    """Where one member of a lesson campaign is."""

    PENDING = "pending"  # waiting for next_attempt_at, inside the member's window
    CALLING = "calling"  # a call is placed; its outcome decides what follows
    DONE = "done"  # a person answered and the lesson played
    MISSED = "missed"  # every attempt failed: an SMS told the member how to call in
    SKIPPED = "skipped"  # opted out, inactive or no valid number


CAMPAIGN_MEMBER_FINAL = frozenset(
    {CampaignMemberStatus.DONE, CampaignMemberStatus.MISSED, CampaignMemberStatus.SKIPPED}
)
# After a failed attempt: half an hour later, then the next evening, then the evening after.
RETRY_AFTER_FIRST = timedelta(minutes=30)
MAX_ATTEMPTS = 4


class CampaignMember(Base):
    """One member of a lesson campaign: attempts made and when to call next."""

    __tablename__ = "campaign_members"
    __table_args__ = (
        UniqueConstraint("campaign_id", "member_id"),
        Index("ix_campaign_members_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("lesson_campaigns.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[CampaignMemberStatus] = mapped_column(
        enum_type(CampaignMemberStatus), default=CampaignMemberStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignError(BilingualError):
    """A lesson campaign that cannot run as asked (message in Chinese, then English)."""


def create_campaign(
    session: Session,
    *,
    lesson_id: int,
    org: Organization,
    author_id: int | None,
    target: dict[str, Any] | None,
    now: datetime,
    via: str | None = None,
    playback: LessonPlayback = LessonPlayback.ANY,
) -> LessonCampaign:
    """Store a lesson campaign; its members are written by the job that starts it.

    The audit entry names the author, or `via` (the command line) when there is none.
    `playback`: which lessons the voice provider's calls can play; a lesson they cannot play
    is refused before any member is called.
    """
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise CampaignError(f"没有编号为{lesson_id}的课程", f"No lesson {lesson_id}")
    unplayable = lesson.unplayable(playback)
    if unplayable is not None:
        raise CampaignError(*unplayable)
    resolved, total, _ = resolve_reachable(
        session,
        org,
        target,
        CampaignError,
        ("目标中没有可以接听电话的成员", "The target reaches no member who can be called"),
    )
    campaign = LessonCampaign(
        lesson_id=lesson.id,
        org_id=org.id,
        author_id=author_id,
        target=resolved.as_dict(),
        status=CampaignStatus.SCHEDULED,
        recipients=total,
        created_at=now,
    )
    session.add(campaign)
    session.flush()
    detail: dict[str, Any] = {"lesson": lesson.id}
    if via:
        detail["via"] = via
    audit(session, author_id, AuditAction.SEND, f"campaign:{campaign.id}", detail, org_id=org.id)
    return campaign


def add_campaign_members(session: Session, campaign: LessonCampaign, now: datetime) -> int:
    """Write the campaign's members (pending, due now); writing them twice adds nobody."""
    target = Target.from_dict(campaign.target)
    ids = target_members(session, campaign.org_id, target).subquery()
    members = session.execute(
        select(Member.id, Member.opted_out_at, Member.phone_invalid_at).where(
            Member.id.in_(select(ids.c.id)),
            ~exists().where(
                CampaignMember.campaign_id == campaign.id, CampaignMember.member_id == Member.id
            ),
        )
    ).all()
    for member_id, opted_out_at, invalid_at in members:
        blocked = opted_out_at is not None or invalid_at is not None
        session.add(
            CampaignMember(
                campaign_id=campaign.id,
                member_id=member_id,
                status=CampaignMemberStatus.SKIPPED if blocked else CampaignMemberStatus.PENDING,
                attempts=0,
                next_attempt_at=None if blocked else now,
                updated_at=now,
            )
        )
    session.flush()
    # Every member once: the rows just added are flushed, so they are in this count already.
    campaign.recipients = _members_of(session, campaign.id)
    if campaign.status is CampaignStatus.SCHEDULED:
        campaign.status = CampaignStatus.RUNNING
    session.flush()
    return len(members)


def _members_of(session: Session, campaign_id: int) -> int:
    """How many members a campaign has (one row each, however often each was called)."""
    return (
        session.scalar(
            select(func.count(func.distinct(CampaignMember.member_id))).where(
                CampaignMember.campaign_id == campaign_id
            )
        )
        or 0
    )


def call_reached_member(status: str, answered_by: str | None) -> bool:
    """Whether a finished call reached a person (not no-answer, busy, failed or a machine)."""
    if status != "completed":
        return False
    return not (answered_by or "").startswith(("machine", "fax"))


def next_attempt_at(
    attempts: int, last_call_at: datetime, member: Member, rules: CycleRules
) -> datetime | None:
    """When to call again after `attempts` failed calls, or None: send the SMS instead.

    +30 minutes (still inside the window), then the next evening, then the evening after.
    """
    if attempts >= MAX_ATTEMPTS:
        return None
    if attempts == 1:
        return next_contact_time(member, rules, last_call_at + RETRY_AFTER_FIRST)
    local = last_call_at.astimezone(rules.timezone)
    next_day = datetime.combine(local.date() + timedelta(days=1), time(0, 0), rules.timezone)
    return next_contact_time(member, rules, next_day)


def campaign_progress(session: Session, campaign_id: int) -> dict[str, int]:
    """How far a campaign has gone: its members, each counted once, and the members in each
    state (not the calls: a member called four times is one member).

    Before the members are written, the number the target reached when it was created.
    """
    campaign = session.get(LessonCampaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"没有编号为{campaign_id}的课程外呼", f"No campaign {campaign_id}")
    written = _members_of(session, campaign_id)
    counts = {"recipients": written or campaign.recipients} | {
        s.value: 0 for s in CampaignMemberStatus
    }
    for status, number in session.execute(
        select(CampaignMember.status, func.count(CampaignMember.id))
        .where(CampaignMember.campaign_id == campaign_id)
        .group_by(CampaignMember.status)
    ):
        counts[status.value] = number
    return counts


def create_lesson(
    session: Session,
    *,
    org_id: int,
    title: str,
    category: LessonCategory,
    audio_path: str | None,
    transcript: str = "",
    duration: int | None = None,
    author_id: int | None = None,
    now: datetime | None = None,
) -> Lesson:
    """Publish an audio lesson (its file already stored under UPLOAD_DIR at `audio_path`)."""
    lesson = Lesson(
        org_id=org_id,
        title=title.strip(),
        category=category,
        audio_path=audio_path,
        transcript=transcript.strip(),
        duration=duration,
        created_at=now or utcnow(),
    )
    session.add(lesson)
    session.flush()
    audit(session, author_id, AuditAction.UPLOAD, f"lesson:{lesson.id}", {"title": lesson.title})
    return lesson


# A lesson's audio at a provider that plays only files it approved (Alibaba Cloud voice)

VOICE_NOTE_LENGTH = 255
# States from which a new upload may start: never uploaded, refused, or failed on the way.
UPLOADABLE = frozenset({None, VoiceFileState.REJECTED, VoiceFileState.FAILED})


def start_voice_upload(
    session: Session, lesson: Lesson, at: datetime, author_id: int | None = None
) -> bool:
    """Mark a lesson's audio as on its way to the voice provider; False when it is already
    there, in review or approved, or the lesson has no audio (nothing to upload)."""
    if not lesson.audio_path or lesson.voice_state not in UPLOADABLE:
        return False
    lesson.voice_state = VoiceFileState.UPLOADING
    lesson.voice_code = None
    lesson.voice_note = None
    lesson.voice_checked_at = at
    if author_id is not None:
        audit(session, author_id, AuditAction.UPLOAD, f"lesson:{lesson.id}", {})
    return True


def voice_uploaded(session: Session, lesson: Lesson, voice_code: str, at: datetime) -> None:
    """The provider took the file: it is in review under this code."""
    lesson.voice_code = voice_code[:128]
    lesson.voice_state = VoiceFileState.IN_REVIEW
    lesson.voice_note = None
    lesson.voice_checked_at = at


def voice_upload_failed(session: Session, lesson: Lesson, reason: str, at: datetime) -> None:
    """The upload did not go through; the reason is shown on the lesson page."""
    lesson.voice_state = VoiceFileState.FAILED
    lesson.voice_note = reason[:VOICE_NOTE_LENGTH]
    lesson.voice_checked_at = at


def voice_reviewed(
    session: Session, lesson: Lesson, approved: bool | None, note: str | None, at: datetime
) -> bool:
    """What the provider's review said (None: still in review); returns whether it changed."""
    lesson.voice_checked_at = at
    if approved is None or lesson.voice_state is not VoiceFileState.IN_REVIEW:
        return False
    lesson.voice_state = VoiceFileState.APPROVED if approved else VoiceFileState.REJECTED
    lesson.voice_note = note[:VOICE_NOTE_LENGTH] if note else None
    return True


def lessons_with_voice(session: Session, state: VoiceFileState) -> list[Lesson]:
    """Lessons whose audio is in this state at the voice provider, longest unchecked first."""
    return list(
        session.scalars(
            select(Lesson)
            .where(Lesson.voice_state == state)
            .order_by(Lesson.voice_checked_at, Lesson.id)
        )
    )
