"""Broadcasts: the composer with its live figures, sending, and the progress of each notice."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response
from wtforms.validators import Optional

from admin_ui.auth import STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import BroadcastForm, ReturnForm, options
from admin_ui.helpers import arg_page
from admin_ui.i18n import bilingual
from admin_ui.templating import format_datetime
from infra.config import uses_sandbox
from infra.db import get_session
from models import reads
from models.approval import (
    MAX_COST,
    MAX_MEMBERS,
    ApprovalRule,
    approval_reasons,
    approval_rule,
)
from models.base import utcnow
from models.broadcast import (
    NOTICE_FORMS,
    REPLY_LINK_DAYS,
    Broadcast,
    BroadcastError,
    BroadcastStatus,
    NoticeField,
    NoticeForm,
    approval_problem,
    broadcast_progress,
    broadcast_send_times,
    composer_wrap,
    create_broadcast,
    notice_text,
    offered_notices,
    send_times,
)
from models.fallback import notice_reach
from models.numbers import parse_int
from models.org import Organization, township_of
from models.outbox import TEMPLATE_RULES_KEY
from models.scope import visible_branches
from models.segments import count_segments, estimate_cost, signed_text
from models.targets import TargetError, count_targeted, resolve_target
from models.user import Role
from workers.broadcasts import start_broadcast

FINAL_KEYS = ("sent", "delivered", "failed", "skipped")


def _price() -> Decimal:
    try:
        return Decimal(str(current_app.config.get("PRICE_PER_SEGMENT", "0")))
    except InvalidOperation:
        return Decimal(0)


def _sign_name() -> str:
    """The township's approved SMS signature at its template provider ('' for text providers)."""
    provider = str(current_app.config["PROVIDER"]).upper()
    return str(current_app.config.get(f"{provider}_SMS_SIGN_NAME") or "")


def _offered() -> tuple[list[NoticeForm], bool]:
    """The notice forms the composer offers, and whether free text is offered."""
    rules = get_session().info.get(TEMPLATE_RULES_KEY)
    return offered_notices(rules, sandbox=uses_sandbox(current_app.config))


def _title(item: NoticeForm | NoticeField) -> str:
    """A notice form's or field's label in the page's language."""
    locale = get_locale()
    return item.en if locale is not None and locale.language == "en" else item.zh


def _composer_form(form: BroadcastForm | None = None) -> BroadcastForm:
    scope = current_scope()
    db = get_session()
    form = form or BroadcastForm()
    forms, free_text = _offered()
    form.notice.choices = options(
        [("", _("Free text"))] * free_text + [(f.key, _title(f)) for f in forms]
    )
    if not free_text and forms and not form.notice.data:
        form.notice.data = forms[0].key
    if form.notice.data or (request.method == "POST" and request.form.get("notice")):
        form.text.validators = [Optional()]  # the fields are the notice, not the text
    form.branches.choices = options((b.id, b.name) for b in visible_branches(db, scope))
    form.cities.choices = options((c, c) for c in reads.members.member_cities(db, scope))
    form.hosts.choices = options(
        (h.id, h.name + (f" ({h.city})" if h.city else ""))
        for h in reads.members.member_hosts(db, scope)
    )
    form.industries.choices = options((i, i) for i in reads.members.member_industries(db, scope))
    return form


def _target(
    branches: list[int],
    cities: list[str],
    nonreporters: str,
    hosts: list[int] | None = None,
    industries: list[str] | None = None,
) -> dict[str, Any]:
    target: dict[str, Any] = {}
    if branches:
        target["branches"] = branches
    if hosts:
        target["hosts"] = hosts
    if cities:
        target["cities"] = cities
    if industries:
        target["industries"] = industries
    if nonreporters:
        target["nonreporters"] = nonreporters
    return target


def _may_send_urgent() -> bool:
    """Only a township user may send a notice at once, whatever the members' windows."""
    return current_account().role is Role.TOWNSHIP


def send_note(first: datetime, last: datetime, now: datetime, urgent: bool) -> str:
    """When a notice goes out, in words: at once, or from when to when in the members' windows."""
    if urgent:
        return _("Urgent: it goes to every member at once, whatever their contact windows.")
    if last <= now + timedelta(minutes=1):
        return _("Every member's contact window is open: it goes out now.")
    return _(
        "It goes out from %(first)s in each member's contact window; the last at %(last)s.",
        first=format_datetime(first),
        last=format_datetime(last),
    )


def _org() -> Organization:
    org = get_session().get(Organization, current_account().user.org_id)
    if org is None:
        abort(404)
    return org


@bp.get("/broadcasts")
@require(*STAFF)
def broadcasts() -> str:
    """The organisation's broadcasts, newest first."""
    db = get_session()
    page = reads.notices.broadcasts(db, current_scope(), page=arg_page())
    return render_template("admin/broadcasts.html", page=page)


def _composer(form: BroadcastForm, status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    db = get_session()
    everyone = resolve_target(db, _org(), {})
    total, reachable = count_targeted(db, _org().id, everyone)
    wrap = composer_wrap(db, _sign_name())
    forms, free_text = _offered()
    chosen = NOTICE_FORMS.get(form.notice.data or "")
    text = form.text.data or ""
    if chosen is not None:
        text = notice_text(chosen.key, _field_values(chosen))
        info = count_segments(signed_text(_sign_name(), text))
    else:
        info = (
            count_segments(text) if wrap is None else count_segments(wrap.replace("{text}", text))
        )
    if wrap is not None or chosen is not None:
        info = replace(info, encoding=_("template"), units=info.characters)
    now = utcnow()
    first, last = send_times(db, _org().id, everyone, now)
    return (
        render_template(
            "admin/composer.html",
            approval=_approval_rule(),
            form=form,
            info=info,
            recipients=total,
            reachable=reachable,
            price=_price(),
            cost=estimate_cost(info.segments, reachable, _price()),
            timezone=scope.timezone,
            may_send_urgent=_may_send_urgent(),
            send_note=send_note(first, last, now, False),
            wrap=wrap if free_text else None,
            free_text=free_text,
            notice_forms=[(f, [(x, _title(x)) for x in f.fields], _notice_wrap(f)) for f in forms],
            values=request.form if request.method == "POST" else {},
            title=_title,
        ),
        status,
    )


def _approval_rule() -> ApprovalRule | None:
    """The township's approval thresholds if they apply to the user's notices, else None."""
    org = _org()
    rule = approval_rule(township_of(get_session(), org))
    if not rule.active or not approval_reasons(rule, org, MAX_MEMBERS + 1, MAX_COST + 1):
        return None
    return rule


def _field_values(form: NoticeForm) -> dict[str, str]:
    """A notice form's values as posted (fields named field_<name>)."""
    return {f.name: request.form.get(f"field_{f.name}", "") for f in form.fields}


def _notice_wrap(form: NoticeForm) -> str:
    """A notice form as a member reads it, signature first, with {name} where each value goes
    (the composer's script fills it to count as you type)."""
    return signed_text(
        _sign_name(), notice_text(form.key, {f.name: f"{{{f.name}}}" for f in form.fields})
    )


@bp.get("/broadcasts/new")
@require(*STAFF)
def broadcast_new() -> tuple[str, int]:
    """The composer: as you type, characters, encoding, segments, recipients and cost."""
    return _composer(_composer_form())


@bp.get("/broadcasts/estimate")
@require(*STAFF)
def broadcast_estimate() -> tuple[Response, int]:
    """How many members a target reaches, how many of them can be sent to, and when it would
    go out (JSON)."""
    scope = current_scope()
    db = get_session()
    branches = [b for b in map(parse_int, request.args.getlist("branches")) if b is not None]
    hosts = [h for h in map(parse_int, request.args.getlist("hosts")) if h is not None]
    cities = [c for c in request.args.getlist("cities") if c]
    industries = [i for i in request.args.getlist("industries") if i]
    nonreporters = request.args.get("nonreporters", "").strip()
    try:
        target = resolve_target(
            db, _org(), _target(branches, cities, nonreporters, hosts, industries)
        )
    except TargetError as exc:
        return jsonify({"error": bilingual(exc)}), 400
    total, reachable = count_targeted(db, _org().id, target)
    now = utcnow()
    at = now
    try:
        when = datetime.strptime(request.args.get("scheduled_at", ""), "%Y-%m-%dT%H:%M")
        at = max(now, when.replace(tzinfo=ZoneInfo(scope.timezone)))
    except ValueError:
        pass  # empty or half typed: now
    urgent = request.args.get("urgent") in ("y", "1", "on") and _may_send_urgent()
    first, last = send_times(db, _org().id, target, at, urgent=urgent)
    # The segments are the composer's to count; with them, it knows the cost and the answer.
    segments = max(1, parse_int(request.args.get("segments", "1")) or 1)
    cost = estimate_cost(segments, reachable, _price())
    rule = approval_rule(township_of(db, _org()))
    needs_approval = bool(approval_reasons(rule, _org(), total, cost))
    return jsonify(
        {
            "recipients": total,
            "reachable": reachable,
            "price": str(_price()),
            "first_send_at": first.isoformat(),
            "last_send_at": last.isoformat(),
            "when": send_note(first, last, now, urgent),
            "needs_approval": needs_approval,
        }
    ), 200


@bp.post("/broadcasts")
@require(*STAFF)
def broadcast_create() -> Response | tuple[str, int]:
    """Store the notice and start sending it at its time."""
    scope = current_scope()
    db = get_session()
    form = _composer_form(BroadcastForm())
    if not form.validate_on_submit():
        return _composer(form, 400)
    urgent = bool(form.urgent.data)
    if urgent and not _may_send_urgent():
        # The box is not shown to a branch: this is a forged or stale form.
        form.urgent.errors = [_("Only a township may send an urgent notice.")]
        return _composer(form, 400)
    # A textarea posts CRLF line ends; the member's phone gets LF, as the composer counted.
    text = (form.text.data or "").replace("\r\n", "\n")
    when: datetime | None = None
    if form.scheduled_at.data is not None:
        when = form.scheduled_at.data.replace(tzinfo=ZoneInfo(scope.timezone))
    target = _target(
        form.branches.data or [],
        form.cities.data or [],
        form.nonreporters.data or "",
        form.hosts.data or [],
        form.industries.data or [],
    )
    now = utcnow()
    chosen = NOTICE_FORMS.get(form.notice.data or "")
    free_text = _offered()[1]
    if chosen is None and not free_text:
        # No free text under this provider until its notice template is approved.
        form.text.errors = [*form.text.errors, _("Choose one of the approved notice templates.")]
        return _composer(form, 400)
    try:
        broadcast = create_broadcast(
            db,
            org=_org(),
            author_id=current_account().id,
            text=text,
            target=target,
            scheduled_at=when,
            now=now,
            urgent=urgent,
            template_key=chosen.key if chosen is not None else None,
            params=_field_values(chosen) if chosen is not None else None,
            price=_price(),
            essential=bool(form.essential.data),
        )
    except BroadcastError as exc:
        if chosen is not None:
            form.notice.errors = [*form.notice.errors, bilingual(exc)]
        else:
            form.text.errors = [*form.text.errors, bilingual(exc)]
        return _composer(form, 400)
    if broadcast.status is BroadcastStatus.PENDING:
        db.commit()
        flash(_("The notice waits for a township user's approval before it goes."), "info")
        return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id))
    first, last = broadcast_send_times(db, broadcast)
    start_broadcast(db, broadcast)
    db.commit()
    flash(send_note(first, last, now, broadcast.urgent), "success")
    return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id))


def _progress(broadcast_id: int) -> dict[str, Any]:
    counts: dict[str, Any] = dict(broadcast_progress(get_session(), broadcast_id))
    reach = notice_reach(get_session(), [broadcast_id])[broadcast_id]
    counts.update(
        reached_text=reach.delivered, reached_call=reach.answered, not_reached=reach.not_reached
    )
    finished = sum(counts[k] for k in FINAL_KEYS)
    recipients = counts["recipients"]
    done = recipients > 0 and counts["queued"] == 0 and counts["sending"] == 0
    percent = 100 if done else (int(finished * 100 / recipients) if recipients else 0)
    return {**counts, "percent": percent, "done": done}


@bp.get("/broadcasts/<int:broadcast_id>")
@require(*STAFF)
def broadcast_detail(broadcast_id: int) -> tuple[str, int]:
    """A notice's progress and the status of each recipient; a notice waiting for approval
    shows the approver what it costs and whom it reaches, with the decision's forms."""
    db = get_session()
    broadcast = reads.notices.visible_broadcast(db, current_scope(), broadcast_id)
    if broadcast is None:
        abort(404)
    return detail_page(broadcast)


def detail_page(
    broadcast: Broadcast,
    status_code: int = 200,
    *,
    approval_error: str = "",
    return_form: ReturnForm | None = None,
) -> tuple[str, int]:
    """The notice's page (also answering a refused decision on it, with why)."""
    db = get_session()
    status = request.args.get("status", "")
    recipients = reads.notices.broadcast_recipients(
        db, broadcast.id, status=status, page=arg_page()
    )
    members = reads.common.members_by_id(db, {m.member_id for m in recipients.items})
    replies, replies_total = reads.notices.notice_replies(db, current_scope(), broadcast.id)
    members.update(reads.common.members_by_id(db, {m.member_id for m in replies}))
    waiting = broadcast.status in (BroadcastStatus.PENDING, BroadcastStatus.RETURNED)
    targeted = reads.notices.targeted_members(db, broadcast, page=arg_page()) if waiting else None
    user = current_account().user
    problem = approval_problem(db, broadcast, user) if waiting else None
    names = reads.common.user_names(db, {broadcast.author_id, broadcast.decided_by_id})
    record("view", f"broadcast:{broadcast.id}", {"page": recipients.page})
    db.commit()
    note = ""
    if broadcast.status not in (BroadcastStatus.DONE, BroadcastStatus.CANCELLED) and not waiting:
        first, last = broadcast_send_times(db, broadcast)
        note = send_note(first, last, utcnow(), broadcast.urgent)
    return (
        render_template(
            "admin/broadcast_detail.html",
            broadcast=broadcast,
            send_note=note,
            progress=_progress(broadcast.id),
            recipients=recipients,
            members=members,
            status=status,
            info=count_segments(broadcast.text),
            replies=replies,
            replies_total=replies_total,
            reply_days=REPLY_LINK_DAYS,
            targeted=targeted,
            may_decide=broadcast.status is BroadcastStatus.PENDING and problem is None,
            own_notice=broadcast.author_id == user.id,
            approval_error=approval_error,
            return_form=return_form or ReturnForm(),
            names=names,
        ),
        status_code,
    )


@bp.get("/broadcasts/<int:broadcast_id>/progress")
@require(*STAFF)
def broadcast_progress_json(broadcast_id: int) -> Response:
    """The notice's counts and share done, polled by the progress bar."""
    db = get_session()
    broadcast = reads.notices.visible_broadcast(db, current_scope(), broadcast_id)
    if broadcast is None:
        abort(404)
    data = _progress(broadcast.id)
    data["status"] = broadcast.status.value
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response
