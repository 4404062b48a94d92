"""Flags for Spring Festival make-up training (春节补课)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, utcnow


class MakeupFlag(Base):
    """A member flagged for make-up training in a named season, e.g. 2027春节."""

    __tablename__ = "makeup_flags"
    __table_args__ = (UniqueConstraint("member_id", "season"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    season: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    flagged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    attended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


MAX_SEASON_CHARS = 32


class MakeupError(ValueError):
    """A flag that cannot be written as asked (message in Chinese, then English)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


def flag_for_makeup(
    session: Session,
    member_ids: Iterable[int],
    *,
    season: str,
    reason: str,
    user_id: int | None,
    at: datetime | None = None,
) -> int:
    """Flag members for make-up training in a season; returns how many were newly flagged.

    A member already flagged in that season keeps the first flag (and its attendance).
    """
    season = season.strip()
    if not season:
        raise MakeupError("请填写补课批次,如2027春节", "Name the season, e.g. 2027春节")
    if len(season) > MAX_SEASON_CHARS:
        raise MakeupError(
            f"补课批次最多{MAX_SEASON_CHARS}字",
            f"A season name has at most {MAX_SEASON_CHARS} characters",
        )
    wanted = sorted(set(member_ids))
    if not wanted:
        raise MakeupError("请先选择党员", "Select at least one member")
    already = set(
        session.scalars(
            select(MakeupFlag.member_id).where(
                MakeupFlag.season == season, MakeupFlag.member_id.in_(wanted)
            )
        )
    )
    now = at or utcnow()
    new = [mid for mid in wanted if mid not in already]
    for member_id in new:
        session.add(
            MakeupFlag(
                member_id=member_id,
                season=season,
                reason=reason,
                flagged_by=user_id,
                created_at=now,
            )
        )
    session.flush()
    return len(new)


def mark_attended(
    session: Session,
    flags: Iterable[MakeupFlag],
    *,
    attended: bool = True,
    at: datetime | None = None,
) -> int:
    """Record that flagged members came to the make-up training (or undo it); rows changed."""
    now = at or utcnow()
    changed = 0
    for flag in flags:
        if attended and flag.attended_at is None:
            flag.attended_at = now
            changed += 1
        elif not attended and flag.attended_at is not None:
            flag.attended_at = None
            changed += 1
    return changed
