"""Help requests: filter, assign, add notes, resolve with a closing SMS to the member."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import FOLLOW_UP, STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import AssignForm, NoteForm, ResolveForm, options
from admin_ui.helpers import arg_branch, arg_page
from infra.db import get_session
from models import reads
from models.help import (
    HelpCategory,
    HelpRequest,
    HelpStatus,
    add_help_note,
    assign_help_request,
    resolve_help_request,
)
from models.help_deadlines import (
    deadlines_for,
    default_deadlines,
    first_contact_due,
    resolution_due,
)
from models.member import Member
from models.org import Organization
from models.period import parse_period, period_bounds
from models.scope import visible_users
from workers.sending import enqueue_send


@bp.get("/help")
@require(*FOLLOW_UP)
def help_list() -> str:
    """Help requests of the user's members, filtered by status and category."""
    scope = current_scope()
    db = get_session()
    status_arg = request.args.get("status", "")
    category_arg = request.args.get("category", "")
    late_arg = request.args.get("late", "")
    status = HelpStatus(status_arg) if status_arg in set(HelpStatus) else None
    category = HelpCategory(category_arg) if category_arg in set(HelpCategory) else None
    late = late_arg if late_arg in reads.help_requests.LATE else None
    branch_id = arg_branch(scope)
    month = parse_period(request.args.get("month"))
    opened = period_bounds(month, ZoneInfo(scope.timezone)) if month else None
    page = reads.help_requests.help_requests(
        db,
        scope,
        status=status,
        category=category,
        late=late,
        branch_id=branch_id,
        opened=opened,
        page=arg_page(),
    )
    members = reads.common.members_by_id(db, {h.member_id for h in page.items})
    assignees = reads.common.user_names(db, {h.assignee_id for h in page.items})
    record(
        "view",
        "help",
        {"status": status_arg, "category": category_arg, "late": late_arg, "page": page.page},
    )
    db.commit()
    return render_template(
        "admin/help_list.html",
        page=page,
        members=members,
        assignees=assignees,
        status=status_arg,
        category=category_arg,
        late=late or "",
        branch_id=branch_id,
        month=month,
        statuses=list(HelpStatus),
        categories=list(HelpCategory),
    )


def _request_or_404(request_id: int) -> HelpRequest:
    found = reads.help_requests.visible_help_request(get_session(), current_scope(), request_id)
    if found is None:
        abort(404)
    return found


def _assign_form(form: AssignForm | None = None) -> AssignForm:
    form = form or AssignForm()
    users = visible_users(get_session(), current_scope())
    form.assignee_id.choices = options(
        [(None, "-"), *((u.id, u.display_name or u.username) for u in users)]
    )
    return form


def _detail(help_request: HelpRequest, status: int = 200, **forms: Any) -> tuple[str, int]:
    db = get_session()
    member = db.get(Member, help_request.member_id)
    notes = reads.help_requests.help_notes(db, help_request.id)
    recordings = reads.help_requests.help_recordings(db, help_request.id)
    names = reads.common.user_names(db, {n.user_id for n in notes} | {help_request.assignee_id})
    township = db.get(Organization, current_scope().township_id)
    deadlines = deadlines_for(township) if township is not None else default_deadlines()
    record("view", f"help:{help_request.id}")
    db.commit()
    assign_form = _assign_form(forms.get("assign_form"))
    if "assign_form" not in forms:
        assign_form.assignee_id.data = help_request.assignee_id
    return (
        render_template(
            "admin/help_detail.html",
            req=help_request,
            member=member,
            notes=notes,
            recordings=recordings,
            names=names,
            contact_due=first_contact_due(help_request, deadlines),
            resolution_due=resolution_due(help_request, deadlines),
            can_assign=current_account().role in STAFF,
            assign_form=assign_form,
            note_form=forms.get("note_form") or NoteForm(),
            resolve_form=forms.get("resolve_form") or ResolveForm(),
        ),
        status,
    )


@bp.get("/help/<int:request_id>")
@require(*FOLLOW_UP)
def help_detail(request_id: int) -> tuple[str, int]:
    """One help request with its notes and the forms to follow it up."""
    return _detail(_request_or_404(request_id))


@bp.post("/help/<int:request_id>/assign")
@require(*STAFF)
def help_assign(request_id: int) -> Any:
    """Give the request to a user of the organisation."""
    help_request = _request_or_404(request_id)
    form = _assign_form(AssignForm())
    if not form.validate_on_submit():
        return _detail(help_request, 400, assign_form=form)
    db = get_session()
    assign_help_request(db, help_request, form.assignee_id.data, user_id=current_account().id)
    record("assign", f"help:{help_request.id}", {"assignee": form.assignee_id.data})
    db.commit()
    flash(_("Assigned."), "success")
    return redirect(url_for("admin.help_detail", request_id=help_request.id))


@bp.post("/help/<int:request_id>/note")
@require(*FOLLOW_UP)
def help_note(request_id: int) -> Any:
    """Add a follow-up note."""
    help_request = _request_or_404(request_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _detail(help_request, 400, note_form=form)
    db = get_session()
    add_help_note(db, help_request, user_id=current_account().id, text=form.text.data or "")
    record("note", f"help:{help_request.id}")
    db.commit()
    flash(_("Note added."), "success")
    return redirect(url_for("admin.help_detail", request_id=help_request.id))


@bp.post("/help/<int:request_id>/resolve")
@require(*FOLLOW_UP)
def help_resolve(request_id: int) -> Response | tuple[str, int]:
    """Close the request and text the member how it was settled."""
    help_request = _request_or_404(request_id)
    if help_request.status is HelpStatus.RESOLVED:
        flash(_("This request is already resolved."), "error")
        return redirect(url_for("admin.help_detail", request_id=help_request.id))
    form = ResolveForm()
    if not form.validate_on_submit():
        return _detail(help_request, 400, resolve_form=form)
    db = get_session()
    member = db.get(Member, help_request.member_id)
    assert member is not None  # visible_help_request found the member
    message = resolve_help_request(
        db,
        help_request,
        member,
        user_id=current_account().id,
        resolution=form.resolution.data or "",
    )
    enqueue_send(db, [message.id])
    record("resolve", f"help:{help_request.id}", {"message": message.id})
    db.commit()
    flash(_("Resolved; the member is being sent the closing message."), "success")
    return redirect(url_for("admin.help_detail", request_id=help_request.id))
