"""The audit log's actions are an enum: written from its members, filtered by their values."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import Role
from models.audit import AuditAction, audit
from models.reads.audit_log import audit_entries
from models.scope import scope_for
from tests.factories import make_tree, make_user


def test_the_log_filtered_by_an_action_shows_its_entries_and_by_an_unknown_one_none(
    session: Session,
) -> None:
    """`?action=view` lists the views; a value no action has (typed into the URL) lists
    nothing instead of failing on the enum."""
    township, _, _ = make_tree(session)
    user = make_user(session, township, Role.TOWNSHIP)
    audit(session, user.id, AuditAction.VIEW, "members")
    audit(session, user.id, AuditAction.EXPORT, "members:csv")
    session.commit()
    scope = scope_for(session, user)

    viewed = audit_entries(session, scope, action="view").items
    assert [(e.action, e.target) for e in viewed] == [(AuditAction.VIEW, "members")]
    assert audit_entries(session, scope, action="viewed").items == []
    assert len(audit_entries(session, scope).items) == 2


def test_an_action_is_found_by_its_value_or_not_at_all() -> None:
    """AuditAction.of reads a stored or typed value; anything else is None."""
    assert AuditAction.of("login_failed") is AuditAction.LOGIN_FAILED
    assert AuditAction.of("LOGIN") is None
