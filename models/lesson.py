"""Audio lessons, who listened, and lesson call campaigns."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_type, utcnow


class LessonCategory(enum.StrEnum):
    """The five lesson categories, in keypad order."""

    POLICY = "policy"  # 1 政策法规
    SKILLS = "skills"  # 2 实用技术
    EXPERIENCE = "experience"  # 3 典型经验
    MARKET = "market"  # 4 市场信息
    SCIENCE = "science"  # 5 科普文卫


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
