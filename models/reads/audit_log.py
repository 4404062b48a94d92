"""The audit log page."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from models.audit import AuditAction, AuditLog
from models.reads.common import PER_PAGE, Page, paginate
from models.scope import Scope
from models.user import Role, User


def audit_entries(
    session: Session,
    scope: Scope,
    *,
    action: str = "",
    user_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[AuditLog]:
    """Audit entries by the users of the scope's organisations, and those made without a
    user (on the command line) for one of them, newest first.

    A township office also sees the entries that belong to no organisation: failed logins.
    """
    users = select(User.id).where(scope.within(User.org_id, scope.org_ids))
    no_user = AuditLog.user_id.is_(None)
    whose: ColumnElement[bool] = or_(
        AuditLog.user_id.in_(users), and_(no_user, scope.within(AuditLog.org_id, scope.org_ids))
    )
    if scope.role is Role.TOWNSHIP:
        whose = or_(whose, and_(no_user, AuditLog.org_id.is_(None)))
    query = select(AuditLog).where(whose)
    if action:
        query = query.where(AuditLog.action == AuditAction.of(action))  # unknown: none
    if user_id is not None:
        query = query.where(AuditLog.user_id == user_id)
    return paginate(session, query.order_by(AuditLog.at.desc(), AuditLog.id.desc()), page, per_page)


__all__ = ["audit_entries"]
