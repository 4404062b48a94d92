"""The inbox: texts and recordings not yet handled, unregistered numbers, broadcast replies."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import DecideForm, HandledForm, LinkForm
from admin_ui.helpers import arg_page
from infra.db import get_session
from models import reads
from models.call import link_unknown_recordings, mark_recordings_handled
from models.member import ChangeSource, PhoneTaken, change_phone
from models.message import link_unmatched, mark_handled
from models.phones import try_normalize
from models.scope import visible_branches
from models.user import Role

TABS = ("texts", "recordings", "unmatched", "replies", "deeds")


@bp.get("/inbox")
@require(*STAFF)
def inbox() -> str:
    """One tab of the inbox, newest first."""
    scope = current_scope()
    db = get_session()
    tabs = [t for t in TABS if t != "unmatched" or scope.sees_strangers]
    tab = request.args.get("tab", "texts")
    if tab not in tabs:
        tab = "texts"
    page: Any
    if tab == "texts":
        page = reads.inbox.inbox_texts(db, scope, page=arg_page())
    elif tab == "recordings":
        page = reads.inbox.inbox_recordings(db, scope, page=arg_page())
    elif tab == "deeds":
        page = reads.deeds.waiting_deeds(db, scope, page=arg_page())
    elif tab == "unmatched":
        page = reads.inbox.unmatched_numbers(db, scope, page=arg_page())
    else:
        page = reads.inbox.broadcast_replies(db, scope, page=arg_page())
    members = reads.common.members_by_id(
        db, {getattr(item, "member_id", None) for item in page.items}
    )
    # The notice each reply answers, named beside it.
    notices = reads.inbox.broadcasts_by_id(
        db, {item.broadcast_id for item in page.items} if tab == "replies" else set()
    )
    record("view", f"inbox:{tab}", {"page": page.page})
    db.commit()
    return render_template(
        "admin/inbox.html",
        tab=tab,
        tabs=tabs,
        page=page,
        members=members,
        notices=notices,
        counts=reads.inbox.inbox_counts(db, scope),
        handled_form=HandledForm(),
        decide_form=DecideForm(),
        link_form=LinkForm(),
    )


@bp.post("/inbox/handled")
@require(*STAFF)
def inbox_handled() -> Response:
    """Mark the selected texts and recordings as dealt with."""
    scope = current_scope()
    db = get_session()
    form = HandledForm()
    tab = request.form.get("tab", "texts")
    if form.validate_on_submit():
        messages = reads.inbox.visible_messages(db, scope, form.message_ids.data or [])
        recordings = reads.inbox.visible_recordings(db, scope, form.recording_ids.data or [])
        changed = mark_handled(db, messages) + mark_recordings_handled(db, recordings)
        record(
            "handle",
            "inbox",
            {"messages": [m.id for m in messages], "recordings": [r.id for r in recordings]},
        )
        db.commit()
        flash(_("%(n)d items marked handled.", n=changed), "success")
    return redirect(url_for("admin.inbox", tab=tab if tab in TABS else "texts"))


LINK_RESULTS = 20


@bp.get("/inbox/link")
@require(Role.TOWNSHIP)
def inbox_link_search() -> str:
    """Find the member an unknown number or caller belongs to: search by name or phone."""
    scope = current_scope()
    db = get_session()
    phone = request.args.get("phone", "").strip()[:32]
    q = request.args.get("q", "").strip()[:64]
    results = []
    if q:
        results = reads.members.search_members(
            db, scope, reads.members.MemberFilter(q=q, active=None), per_page=LINK_RESULTS
        ).items
    texts = reads.inbox.unmatched_texts_of(db, scope, phone) if phone else []
    recordings = reads.inbox.unknown_recordings_of(db, scope, phone) if phone else []
    record("view", "inbox:link", {"phone": phone, "q": q, "found": len(results)})
    db.commit()
    return render_template(
        "admin/inbox_link.html",
        phone=phone,
        q=q,
        results=[row.member for row in results],
        branches={b.id: b.name for b in visible_branches(db, scope)},
        texts=texts,
        recordings=recordings,
        link_form=LinkForm(),
        most=LINK_RESULTS,
    )


@bp.post("/inbox/link")
@require(Role.TOWNSHIP)
def inbox_link() -> Response:
    """Attach an unregistered number's texts and recordings to a member chosen by search
    (and make it their phone, if asked)."""
    scope = current_scope()
    db = get_session()
    form = LinkForm()
    phone = (form.phone.data or "").strip()
    back = url_for("admin.inbox_link_search", phone=phone) if phone else url_for("admin.inbox")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(back)
    member = reads.members.visible_member(db, scope, form.member_id.data or 0)
    if member is None:
        flash(_("No such member in your organisation."), "error")
        return redirect(back)
    linked = link_unmatched(db, phone, member.id)
    recordings = link_unknown_recordings(db, phone, member.id)
    detail: dict[str, Any] = {"phone": phone, "messages": linked, "recordings": recordings}
    if form.make_phone.data:
        normalized = try_normalize(phone, current_app.config.get("DEFAULT_REGION", "CN"))
        try:
            if normalized is None:
                raise PhoneTaken(phone)
            if change_phone(db, member, normalized, source=ChangeSource.ADMIN):
                detail["phone_changed"] = True
        except PhoneTaken:
            flash(_("The number could not become the member's phone: invalid or taken."), "error")
    record("link", f"member:{member.id}", detail)
    db.commit()
    flash(
        _(
            "%(n)d texts and %(r)d recordings attached to %(name)s.",
            n=linked,
            r=recordings,
            name=member.name,
        ),
        "success",
    )
    return redirect(url_for("admin.inbox", tab="unmatched"))
