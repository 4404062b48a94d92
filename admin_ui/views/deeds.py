"""Activities (五个一, 致富信息): deeds and tips to confirm, the tips board, staff's own tips,
the exemplary mark (树形象) and the township's comparison of branches."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.charts import bars_svg
from admin_ui.forms import DecideForm, ExemplarForm, TipForm
from admin_ui.helpers import arg_page
from admin_ui.i18n import bilingual, label
from infra.db import get_session
from models import reads
from models.base import utcnow
from models.call import Recording
from models.deed import (
    DeedError,
    TipTopic,
    decide_deed,
    mark_exemplar,
    record_deed,
    unmark_exemplar,
)
from models.outbox import queue_sms
from models.period import Period, period_bounds
from models.report import Channel
from models.scope import Scope, visible_branches
from models.user import Role
from workers.sending import enqueue_send

# Who confirms: the branch (and township) for its members, a host for the members it hosts.
DECIDERS = (Role.TOWNSHIP, Role.BRANCH, Role.HOST)
TABS = ("waiting", "tips")


def _back(default: str) -> str:
    """Where a form goes back to: its `next` when it is an admin page, else the default."""
    target = request.form.get("next", "")
    return target if target.startswith("/admin/") and not target.startswith("//") else default


@bp.get("/activities")
@require(*DECIDERS)
def activities() -> str:
    """Deeds and tips waiting for confirmation, and the tips board with its listens."""
    scope = current_scope()
    db = get_session()
    tab = request.args.get("tab", "waiting")
    if tab not in TABS:
        tab = "waiting"
    topic_arg = request.args.get("topic", "")
    topic = TipTopic(topic_arg) if topic_arg in {t.value for t in TipTopic} else None
    if tab == "waiting":
        page = reads.deeds.waiting_deeds(db, scope, page=arg_page())
    else:
        page = reads.deeds.tips_board(db, scope, topic=topic, page=arg_page())
    members = reads.common.members_by_id(db, {d.member_id for d in page.items})
    record("view", f"activities:{tab}", {"page": page.page})
    db.commit()
    return render_template(
        "admin/activities.html",
        tab=tab,
        tabs=TABS,
        page=page,
        topic=topic.value if topic else "",
        topics=[t.value for t in TipTopic],
        members=members,
        deciders=reads.common.user_names(db, {d.decided_by for d in page.items}),
        waiting=reads.deeds.waiting_count(db, scope),
        branches=visible_branches(db, scope),
        decide_form=DecideForm(),
        tip_form=TipForm(),
        can_type=scope.role in STAFF,
    )


@bp.post("/deeds/<int:deed_id>/decide")
@require(*DECIDERS)
def deed_decide(deed_id: int) -> Response:
    """Confirm or decline a deed (approve a tip), with the reason to decline."""
    scope = current_scope()
    db = get_session()
    back = _back(url_for("admin.activities"))
    deed = reads.deeds.visible_deed(db, scope, deed_id)
    if deed is None:
        abort(404)
    form = DecideForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(back)
    account = current_account()
    now = utcnow()
    try:
        tell = decide_deed(
            db,
            deed,
            confirm=form.decision.data == "confirm",
            reason=form.reason.data or "",
            user_id=account.id,
            user_member_id=account.user.member_id,
            org_id=account.user.org_id,
            topic=form.topic.data or None,
            now=now,
        )
    except DeedError as exc:
        flash(bilingual(exc), "error")
        return redirect(back)
    if tell:
        member = reads.common.members_by_id(db, {deed.member_id})[deed.member_id or 0]
        message = queue_sms(
            db, template_key="tip_approved", params={"ref": deed.ref}, member=member, at=now
        )
        enqueue_send(db, [message.id])  # sent once the decision commits
    record(
        "handle",
        f"deed:{deed.id}",
        {"status": deed.status.value, "reason": deed.decline_reason, "topic": deed.topic},
    )
    db.commit()
    flash(
        _("%(ref)s: %(status)s.", ref=deed.ref, status=label("deed_status", deed.status)),
        "success",
    )
    return redirect(back)


@bp.post("/tips")
@require(*STAFF)
def tip_create() -> Response:
    """A tip typed by staff: it waits, as a member's does, for someone else to approve it."""
    scope = current_scope()
    db = get_session()
    back = url_for("admin.activities", tab="waiting")
    form = TipForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(back)
    if form.branch_id.data not in scope.branch_ids:
        flash(_("Choose one of your branches."), "error")
        return redirect(back)
    try:
        deed = record_deed(
            db,
            member=None,
            item=1,
            text=form.text.data or "",
            channel=Channel.ADMIN,
            topic=TipTopic(form.topic.data),
            author_id=current_account().id,
            org_id=form.branch_id.data,
        )
    except DeedError as exc:
        flash(bilingual(exc), "error")
        return redirect(back)
    record("edit", f"deed:{deed.id}", {"tip": deed.text, "topic": deed.topic})
    db.commit()
    flash(_("Tip %(ref)s saved; it waits for approval.", ref=deed.ref), "success")
    return redirect(back)


@bp.get("/deeds/<int:deed_id>/audio")
@require(*DECIDERS)
def deed_audio(deed_id: int) -> Response:
    """Play a spoken deed or tip (hosts too: they confirm the members they host)."""
    from admin_ui.views.members import _audio

    scope = current_scope()
    db = get_session()
    deed = reads.deeds.visible_deed(db, scope, deed_id)
    if deed is None or deed.recording_id is None:
        abort(404)
    recording = db.get(Recording, deed.recording_id)
    if recording is None:
        abort(404)
    record("play", f"recording:{recording.id}")
    db.commit()
    return _audio(recording.url)


@bp.post("/review/exemplar")
@require(*STAFF)
def review_exemplar() -> Response:
    """Mark a member exemplary (树形象) for a year with why, or take the mark away."""
    scope = current_scope()
    db = get_session()
    form = ExemplarForm()
    back = _back(url_for("admin.review"))
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(back)
    member = reads.members.visible_member(db, scope, form.member_id.data or 0)
    if member is None:
        abort(404)
    year = form.year.data or 0
    if not 2000 <= year <= _this_year(scope):
        flash(_("A mark is for this year or an earlier one."), "error")
        return redirect(back)
    if form.remove.data:
        unmark_exemplar(db, member.id, year)
        record("rate", f"member:{member.id}", {"year": year, "exemplar": False})
        db.commit()
        flash(_("%(name)s is no longer marked exemplary.", name=member.name), "success")
        return redirect(back)
    try:
        mark_exemplar(db, member.id, year, form.reason.data or "", current_account().id)
    except DeedError as exc:
        flash(bilingual(exc), "error")
        return redirect(back)
    record(
        "rate", f"member:{member.id}", {"year": year, "exemplar": True, "reason": form.reason.data}
    )
    db.commit()
    flash(_("%(name)s marked exemplary for %(year)d.", name=member.name, year=year), "success")
    return redirect(back)


def _this_year(scope: Scope) -> int:
    return Period.parse(reads.common.current_period(scope)).year


@bp.get("/review/branches")
@require(*STAFF)
def review_branches() -> str:
    """The township's comparison of branches' activities in a year, with a chart."""
    scope = current_scope()
    db = get_session()
    current = _this_year(scope)
    year = request.args.get("year", type=int) or current
    if not 2000 <= year <= current:
        year = current
    start, _end = period_bounds(f"{year:04d}-01", scope.timezone)
    _start, end = period_bounds(f"{year:04d}-12", scope.timezone)
    names = {b.id: b.name for b in visible_branches(db, scope)}
    rows = reads.deeds.branch_activities(db, scope, year, start, end, names)
    marked = reads.deeds.exemplar_members(db, scope, year)
    record("view", f"review_branches:{year}")
    db.commit()
    chart = bars_svg([(r.name, r.active_share) for r in rows], _("Members with a confirmed deed"))
    return render_template(
        "admin/review_branches.html",
        rows=rows,
        year=year,
        years=list(range(current, current - 6, -1)),
        chart=chart,
        marked=marked,
        branch_names=names,
        items=reads.deeds.ITEMS,
    )
