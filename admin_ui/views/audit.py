"""The audit log: who viewed or exported member data and who changed what (township only)."""

from __future__ import annotations

from flask import render_template, request

from admin_ui.auth import TOWNSHIP_ONLY, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.helpers import arg_int, arg_page
from admin_ui.i18n import AUDIT_ACTION_LABELS
from infra.db import get_session
from models import reads
from models.scope import visible_users


@bp.get("/audit")
@require(*TOWNSHIP_ONLY)
def audit() -> str:
    """Audit entries of the township's users, newest first, by action or user."""
    scope = current_scope()
    db = get_session()
    action = request.args.get("action", "")[:32]
    user_id = arg_int("user")
    page = reads.audit_log.audit_entries(db, scope, action=action, user_id=user_id, page=arg_page())
    users = visible_users(db, scope)
    record("view", "audit", {"page": page.page})
    db.commit()
    return render_template(
        "admin/audit.html",
        page=page,
        action=action,
        user_id=user_id,
        users=users,
        actions=list(AUDIT_ACTION_LABELS),
        names={u.id: u.display_name or u.username for u in users},
    )
