"""The yearly review's rating (一年一评): 优秀, 合格, 基本合格 or 不合格 per member and year.

Every rating given is kept: rating a member again for the same year adds a row and marks
the one before it superseded, so the review shows the current rating and the member's
history shows who rated what, when and why.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow
from models.targets import BilingualError

MAX_REASON_CHARS = 500


class Grade(enum.StrEnum):
    """The four grades of the yearly review."""

    EXCELLENT = "excellent"  # 优秀
    QUALIFIED = "qualified"  # 合格
    BASIC = "basically_qualified"  # 基本合格
    UNQUALIFIED = "unqualified"  # 不合格


GRADE_ZH = {
    Grade.EXCELLENT: "优秀",
    Grade.QUALIFIED: "合格",
    Grade.BASIC: "基本合格",
    Grade.UNQUALIFIED: "不合格",
}


class MemberRating(Base):
    """One rating of a member for a year; the current one has no superseded_at."""

    __tablename__ = "member_ratings"
    __table_args__ = (Index("ix_member_ratings_year_member", "year", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    year: Mapped[int]
    grade: Mapped[Grade] = mapped_column(enum_type(Grade))
    reason: Mapped[str] = mapped_column(Text)
    rater_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]


class RatingError(BilingualError):
    """A rating that cannot be stored as given."""


def current_rating(session: Session, member_id: int, year: int) -> MemberRating | None:
    """The member's rating for the year now in force, if any."""
    return session.scalar(
        select(MemberRating).where(
            MemberRating.member_id == member_id,
            MemberRating.year == year,
            MemberRating.superseded_at.is_(None),
        )
    )


def rating_history(session: Session, member_id: int, year: int) -> list[MemberRating]:
    """Every rating given to the member for the year, newest first."""
    return list(
        session.scalars(
            select(MemberRating)
            .where(MemberRating.member_id == member_id, MemberRating.year == year)
            .order_by(MemberRating.id.desc())
        )
    )


def member_ratings(session: Session, member_id: int) -> list[MemberRating]:
    """Every rating the member was given, in any year, newest first (for the member's file)."""
    return list(
        session.scalars(
            select(MemberRating)
            .where(MemberRating.member_id == member_id)
            .order_by(MemberRating.year.desc(), MemberRating.id.desc())
        )
    )


def rate_member(
    session: Session,
    member_id: int,
    year: int,
    grade: Grade | str,
    reason: str,
    rater_id: int | None,
    now: datetime | None = None,
) -> tuple[MemberRating, MemberRating | None]:
    """Rate a member for a year; returns the new rating and the one it replaces (if any).

    The reason is required: a rating says why.
    """
    try:
        grade = Grade(grade)
    except ValueError:
        raise RatingError(f"未知评定等次:{grade}", f"Unknown grade: {grade}") from None
    reason = (reason or "").strip()
    if not reason:
        raise RatingError("请写明评定理由", "Give the reason for the rating")
    if len(reason) > MAX_REASON_CHARS:
        raise RatingError(
            f"评定理由最多{MAX_REASON_CHARS}字",
            f"A reason has at most {MAX_REASON_CHARS} characters",
        )
    at = now or utcnow()
    previous = current_rating(session, member_id, year)
    if previous is not None:
        previous.superseded_at = at
    rating = MemberRating(
        member_id=member_id, year=year, grade=grade, reason=reason, rater_id=rater_id, rated_at=at
    )
    session.add(rating)
    session.flush()
    return rating, previous


__all__ = [
    "GRADE_ZH",
    "MAX_REASON_CHARS",
    "Grade",
    "MemberRating",
    "RatingError",
    "current_rating",
    "member_ratings",
    "rate_member",
    "rating_history",
]
