"""Notices approved up the chain: the township's thresholds, the notices waiting, and the
approver's decision (approve, or return with a reason), both audited."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, TOWNSHIP_ONLY, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import ApprovalSettingsForm, ReturnForm
from admin_ui.i18n import bilingual
from admin_ui.views.broadcasts import detail_page
from infra.db import get_session
from models import reads
from models.approval import (
    APPROVAL_KEY,
    ApprovalError,
    approval_rule,
    check_approval_settings,
)
from models.base import utcnow
from models.broadcast import Broadcast, approve_broadcast, return_broadcast
from models.org import Organization
from workers.broadcasts import start_broadcast


def _township() -> Organization:
    org = get_session().get(Organization, current_scope().township_id)
    if org is None:
        abort(404)
    return org


def _settings_page(form: ApprovalSettingsForm, status: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "admin/settings_approval.html",
            form=form,
            township=_township(),
            editable=current_scope().is_township,
        ),
        status,
    )


@bp.get("/settings/approval")
@require(*STAFF)
def approval_settings() -> tuple[str, int]:
    """The township's thresholds above which a notice waits for a township user's approval."""
    township = _township()
    rule = approval_rule(township)
    form = ApprovalSettingsForm()
    form.members.data = "" if rule.members is None else str(rule.members)
    form.cost.data = "" if rule.cost is None else str(rule.cost)
    form.township_own.data = rule.township_own
    record("view", f"settings:approval:{township.id}")
    get_session().commit()
    return _settings_page(form)


@bp.post("/settings/approval")
@require(*TOWNSHIP_ONLY)
def approval_settings_save() -> Any:
    """Store the thresholds: empty is none; a bad number is refused with a message."""
    township = _township()
    form = ApprovalSettingsForm()
    if not form.validate_on_submit():
        return _settings_page(form, 400)
    try:
        checked = check_approval_settings(
            form.members.data, form.cost.data, bool(form.township_own.data)
        )
    except ApprovalError as exc:
        field = form.members if "人数" in exc.zh else form.cost
        field.errors = [*field.errors, bilingual(exc)]
        return _settings_page(form, 400)
    db = get_session()
    stored = dict(township.settings or {})
    before = stored.get(APPROVAL_KEY)
    if before != checked:
        stored[APPROVAL_KEY] = checked
        township.settings = stored
        record("settings", f"org:{township.id}", {"changes": {APPROVAL_KEY: [before, checked]}})
    db.commit()
    flash(_("The settings are saved."), "success")
    return redirect(url_for("admin.approval_settings"))


@bp.get("/approvals")
@require(*TOWNSHIP_ONLY)
def approvals() -> str:
    """The notices of the township waiting for approval, oldest first."""
    db = get_session()
    pending = reads.notices.pending_broadcasts(db, current_scope())
    names = reads.common.user_names(db, {b.author_id for b in pending})
    orgs = {
        org.id: org.name
        for org in (db.get(Organization, oid) for oid in {b.org_id for b in pending})
        if org is not None
    }
    record("view", "approvals")
    db.commit()
    return render_template(
        "admin/approvals.html", pending=pending, names=names, orgs=orgs, me=current_account().id
    )


def _broadcast_or_404(broadcast_id: int) -> Broadcast:
    found = reads.notices.visible_broadcast(get_session(), current_scope(), broadcast_id)
    if found is None:
        abort(404)
    return found


@bp.post("/broadcasts/<int:broadcast_id>/approve")
@require(*TOWNSHIP_ONLY)
def broadcast_approve(broadcast_id: int) -> Response | tuple[str, int]:
    """Approve a pending notice: it goes out as if just sent (in each member's window).
    Not one's own, and only a pending one: else the page again with why (400)."""
    broadcast = _broadcast_or_404(broadcast_id)
    db = get_session()
    try:
        approve_broadcast(db, broadcast, current_account().user, utcnow())
    except ApprovalError as exc:
        db.rollback()
        return detail_page(broadcast, 400, approval_error=bilingual(exc))
    start_broadcast(db, broadcast)
    db.commit()
    flash(_("Approved: the notice is being sent."), "success")
    return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id))


@bp.post("/broadcasts/<int:broadcast_id>/return")
@require(*TOWNSHIP_ONLY)
def broadcast_return(broadcast_id: int) -> Response | tuple[str, int]:
    """Return a pending notice to its author with a reason; it is never sent."""
    broadcast = _broadcast_or_404(broadcast_id)
    db = get_session()
    form = ReturnForm()
    if not form.validate_on_submit():
        return detail_page(broadcast, 400, return_form=form)
    try:
        return_broadcast(db, broadcast, current_account().user, form.reason.data or "", utcnow())
    except ApprovalError as exc:
        db.rollback()
        return detail_page(broadcast, 400, approval_error=bilingual(exc), return_form=form)
    db.commit()
    flash(_("Returned to its author with your reason."), "success")
    return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id))


__all__ = [
    "approval_settings",
    "approval_settings_save",
    "approvals",
    "broadcast_approve",
    "broadcast_return",
]
