"""Privacy (个人信息保护): revealing a number, a member's own file, erasure, exports' columns,
the retention settings and the township's access review."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField
from wtforms.validators import InputRequired

from admin_ui.auth import STAFF, TOWNSHIP_ONLY, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import EraseForm, PlainForm
from admin_ui.helpers import ColumnRefused, chosen_columns, download
from admin_ui.i18n import bilingual
from admin_ui.views.members import _file_page
from infra.db import get_session
from models import reads
from models.base import utcnow
from models.member import Member
from models.org import Organization, subtree_ids
from models.privacy import (
    RETENTION_DEFAULTS,
    PrivacyError,
    RetentionRun,
    access_review,
    check_retention,
    erase_member,
    member_file,
    retention_rules,
    sees_full_numbers,
    set_retention,
    user_activity,
)
from models.user import Role, User, deactivate_user


class RetentionForm(FlaskForm):
    """The township's retention settings."""

    recording_months = IntegerField(validators=[InputRequired()])
    inbound_months = IntegerField(validators=[InputRequired()])
    audit_months = IntegerField(validators=[InputRequired()])
    unused_user_days = IntegerField(validators=[InputRequired()])


def export_columns(
    keys: Sequence[str], rows: Iterable[Sequence[Any]]
) -> tuple[list[str], list[list[Any]]]:
    """An admin export cut to the ticked columns, numbers masked for roles that do not call
    members; a column the export does not have is answered 400 with why."""
    try:
        return chosen_columns(keys, rows, full_phone=sees_full_numbers(current_account().role))
    except ColumnRefused as exc:
        abort(
            Response(
                _("No such column in this export: %(column)s", column=str(exc)),
                400,
                mimetype="text/plain",
            )
        )


def _member_or_404(member_id: int) -> Member:
    member = reads.members.visible_member(get_session(), current_scope(), member_id)
    if member is None:
        abort(404)
    return member


@bp.post("/members/<int:member_id>/reveal")
@require(Role.BRANCH, Role.LIAISON)
def member_reveal(member_id: int) -> Any:
    """Show the member's full phone numbers on their file, once, audited."""
    member = _member_or_404(member_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    record("reveal", f"member:{member.id}")
    return _file_page(member, revealed=True)


@bp.get("/members/<int:member_id>/data.json")
@require(*STAFF)
def member_data(member_id: int) -> Response:
    """Everything kept about the member, as a JSON file for the member who asked for it."""
    member = _member_or_404(member_id)
    db = get_session()
    data = member_file(db, member)
    counts = {key: len(value) for key, value in data.items() if isinstance(value, list)}
    record("export", f"member:{member.id}", {"what": "member_data", "rows": counts})
    db.commit()
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return download(body.encode(), f"个人信息-{member.id}.json", "application/json")


@bp.post("/members/<int:member_id>/erase")
@require(*STAFF)
def member_erase(member_id: int) -> Any:
    """Erase a member who has left the programme (models.privacy.erase_member), audited."""
    member = _member_or_404(member_id)
    form = EraseForm()
    if not form.validate_on_submit() or not form.confirm.data:
        flash(_("Tick the box to confirm the erasure."), "error")
        return redirect(url_for("admin.member_file", member_id=member.id)), 400
    db = get_session()
    try:
        cleared = erase_member(db, member, utcnow())
    except PrivacyError as exc:
        db.rollback()
        flash(bilingual(exc), "error")
        return redirect(url_for("admin.member_file", member_id=member.id)), 400
    record("erase", f"member:{member.id}", cleared)
    db.commit()
    flash(_("The member's personal information is erased."), "success")
    return redirect(url_for("admin.member_file", member_id=member.id))


def _township() -> Organization:
    return current_account().user.org


@bp.route("/privacy", methods=["GET", "POST"])
@require(*TOWNSHIP_ONLY)
def privacy_settings() -> Any:
    """The township's retention settings and its last nightly runs."""
    db = get_session()
    township = db.get(Organization, _township().id)
    assert township is not None
    form = RetentionForm(data=retention_rules(township) if request.method == "GET" else None)
    status = 200
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                values = check_retention({key: form[key].data for key in RETENTION_DEFAULTS})
            except PrivacyError as exc:
                error = bilingual(exc)
            else:
                changes = set_retention(township, values)
                if changes:
                    record("settings", f"org:{township.id}", {"privacy": changes})
                db.commit()
                flash(_("Saved."), "success")
                return redirect(url_for("admin.privacy_settings"))
        status = 400
        error = error or _("Each value must be a whole number.")
    runs = db.scalars(
        select(RetentionRun)
        .where(RetentionRun.township_id == township.id)
        .order_by(RetentionRun.night.desc())
        .limit(14)
    ).all()
    return render_template(
        "admin/privacy.html", form=form, runs=runs, error=error, defaults=RETENTION_DEFAULTS
    ), status


def _user_in_township(user_id: int) -> User:
    db = get_session()
    user = db.get(User, user_id)
    if user is None or user.org_id not in subtree_ids(db, _township().id):
        abort(404)
    return user


@bp.get("/privacy/users")
@require(*TOWNSHIP_ONLY)
def access_review_page() -> str:
    """Per user: roles, last login, views and exports in the last 90 days; disable one."""
    db = get_session()
    rows = access_review(db, _township(), utcnow())
    record("view", "access_review")
    db.commit()
    return render_template("admin/access_review.html", rows=rows, form=PlainForm())


@bp.get("/privacy/users/<int:user_id>")
@require(*TOWNSHIP_ONLY)
def access_review_user(user_id: int) -> str:
    """What one user viewed, revealed and exported in the last 90 days."""
    user = _user_in_township(user_id)
    db = get_session()
    entries = user_activity(db, user, utcnow())
    record("view", f"user:{user.id}")
    db.commit()
    return render_template("admin/access_user.html", user=user, entries=entries, form=PlainForm())


@bp.post("/privacy/users/<int:user_id>/disable")
@require(*TOWNSHIP_ONLY)
def access_disable(user_id: int) -> Any:
    """Disable a user: no more logins, their sessions end."""
    user = _user_in_township(user_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    if user.id == current_account().id:
        flash(_("You cannot disable yourself."), "error")
        return redirect(url_for("admin.access_review_page")), 400
    db = get_session()
    if user.active:
        deactivate_user(user)
        record("user_disabled", f"user:{user.id}", {"username": user.username})
        db.commit()
        flash(_("The user is disabled."), "success")
    return redirect(url_for("admin.access_review_page"))
