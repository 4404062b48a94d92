"""The audit log: who viewed or exported member data, and who changed what."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, enum_type, utcnow


class AuditAction(enum.StrEnum):
    """What an audited user did."""

    VIEW = "view"
    EXPORT = "export"
    PLAY = "play"
    EDIT = "edit"
    CONTACT = "contact"
    FLAG = "flag"
    ATTEND = "attend"
    SEND = "send"
    UPLOAD = "upload"
    RESOLVE = "resolve"
    NOTE = "note"
    ASSIGN = "assign"
    LINK = "link"
    HANDLE = "handle"
    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_FAILED = "login_failed"
    PASSWORD_CHANGED = "password_changed"
    USER_DISABLED = "user_disabled"
    SIMULATE = "simulate"
    CHECK = "check"
    IMPORT = "import"
    RATE = "rate"
    SETTINGS = "settings"
    APPROVE = "approve"  # a notice approved up the chain
    RETURN = "return"  # a notice returned to its author with a reason
    REVEAL = "reveal"  # a member's full phone number shown
    ERASE = "erase"  # a member who left erased (models.privacy.erase_member)
    RETENTION = "retention"  # the nightly retention run: what it removed

    @classmethod
    def of(cls, text: str) -> AuditAction | None:
        """The action written so (a filter typed in a URL), or None."""
        try:
            return cls(text)
        except ValueError:
            return None


class AuditLog(Base):
    """One audited action by an admin user."""

    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The organisation acted for, when no admin user did (a command line): whose log shows it.
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    action: Mapped[AuditAction] = mapped_column(enum_type(AuditAction, 32))
    target: Mapped[str] = mapped_column(String(64))  # "member:12", "nonreporters:csv"
    detail: Mapped[dict[str, Any] | None]
    ip: Mapped[str | None] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(default=utcnow)


def audit(
    session: Session,
    user_id: int | None,
    action: AuditAction,
    target: str,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    org_id: int | None = None,
) -> None:
    """Write one audit entry (committed with the caller's transaction).

    An entry without a user (made on the command line) names the organisation it was made
    for, so that organisation's audit log shows it.
    """
    session.add(
        AuditLog(user_id=user_id, action=action, target=target, detail=detail, ip=ip, org_id=org_id)
    )
