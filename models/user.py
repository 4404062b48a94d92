"""Admin users, each with one role scoped to one organisation."""

from __future__ import annotations

import enum
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, enum_type, utcnow
from models.org import Organization


class Role(enum.StrEnum):
    """What a user may see and do."""

    TOWNSHIP = "township"
    BRANCH = "branch"
    LIAISON = "liaison"
    HOST = "host"


class User(Base):
    """A person who logs in to the admin: township office, branch, liaison or host."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh_CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A user who is also a member (a secretary who works away): never confirms their own deed.
    # No foreign key: members already refer to users (liaison_id), and a cycle of keys would
    # make creating and dropping the tables order-dependent.
    member_id: Mapped[int | None] = mapped_column(Integer)
    # Kept in every login session; a session carrying an older number is no longer logged in.
    # Raised on logout, a password change and deactivation: that ends the user's sessions on
    # the server, whatever cookies are still around.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The access review shows it; a login unused too long is disabled (models.privacy).
    last_login_at: Mapped[datetime | None]

    org: Mapped[Organization] = relationship(lazy="joined")


_hasher = PasswordHasher()


def set_password(user: User, password: str) -> None:
    """Store an Argon2 hash of the password; any session the user had ends."""
    user.password_hash = _hasher.hash(password)
    if user.session_version is not None:  # None: a new user, not stored yet
        end_sessions(user)


def end_sessions(user: User) -> None:
    """End every login session of the user (each keeps the version it started with)."""
    user.session_version = (user.session_version or 1) + 1


def deactivate_user(user: User) -> None:
    """Stop the user logging in, and end the sessions they have."""
    user.active = False
    end_sessions(user)


def check_password(user: User, password: str) -> bool:
    """Whether the password matches the user's stored hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False
