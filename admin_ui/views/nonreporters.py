"""Non-reporters over a range of months; flags for make-up training; the roster and its export."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import AttendanceForm, FlagForm
from admin_ui.helpers import arg_branch, arg_int, arg_page, arg_periods, csv_response, xlsx_response
from admin_ui.i18n import bilingual, export_header
from admin_ui.views.privacy import export_columns
from infra.db import get_session
from models import reads
from models.makeup import MakeupError, flag_for_makeup, mark_attended
from models.period import Period, shift_period
from models.scope import Scope, visible_branches

RANGE_MONTHS = 12


def default_season(scope: Scope) -> str:
    """The coming Spring Festival's season name: 春节 falls in January or February."""
    period = Period.parse(reads.common.current_period(scope))
    return f"{period.year if period.month <= 2 else period.year + 1}春节"


@bp.get("/nonreporters")
@require(*STAFF)
def nonreporters() -> str:
    """Who missed how many months (and lessons) in a range; select them to flag."""
    scope = current_scope()
    db = get_session()
    last_closed = shift_period(reads.common.current_period(scope), -1)
    periods, range_error = arg_periods(last_closed, RANGE_MONTHS)
    branch_id = arg_branch(scope)
    min_missed = max(1, min(len(periods), arg_int("min", 1) or 1))
    season = (request.args.get("season") or default_season(scope)).strip()[:32]
    page = reads.nonreporters.non_reporters(
        db,
        scope,
        periods,
        min_missed=min_missed,
        branch_id=branch_id,
        season=season,
        page=arg_page(),
    )
    record(
        "view",
        "nonreporters",
        {"from": periods[0], "to": periods[-1], "min": min_missed, "page": page.page},
    )
    db.commit()
    form = FlagForm(season=season)
    return render_template(
        "admin/nonreporters.html",
        page=page,
        periods=periods,
        branch_id=branch_id,
        branches=visible_branches(db, scope),
        min_missed=min_missed,
        season=season,
        form=form,
        range_error=range_error,
        seasons=reads.roster.makeup_seasons(db, scope),
        running=reads.common.current_period(scope),
    )


@bp.post("/nonreporters/flag")
@require(*STAFF)
def nonreporters_flag() -> Response:
    """Flag the selected members for make-up training in the named season."""
    scope = current_scope()
    db = get_session()
    form = FlagForm()
    back = request.form.get("back", "")
    back = back if back.startswith("/admin/nonreporters") else url_for("admin.nonreporters")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(back)
    ids = reads.members.visible_member_ids(db, scope, form.member_ids.data or [])
    reason = request.form.get("reason", "")[:200]
    try:
        added = flag_for_makeup(
            db, ids, season=form.season.data or "", reason=reason, user_id=current_account().id
        )
    except MakeupError as exc:
        flash(bilingual(exc), "error")
        return redirect(back)
    record("flag", f"makeup:{form.season.data}", {"members": ids, "added": added})
    db.commit()
    flash(_("%(n)d members flagged for %(season)s.", n=added, season=form.season.data), "success")
    return redirect(back)


def _roster_args() -> tuple[Scope, str, int | None]:
    scope = current_scope()
    season = (request.args.get("season") or default_season(scope)).strip()[:32]
    return scope, season, arg_branch(scope)


@bp.get("/nonreporters/roster")
@require(*STAFF)
def roster() -> str:
    """The members flagged in a season, to export and to mark who attended."""
    scope, season, branch_id = _roster_args()
    db = get_session()
    page = reads.roster.makeup_roster(db, scope, season, branch_id=branch_id, page=arg_page())
    record("view", f"makeup:{season}", {"page": page.page})
    db.commit()
    return render_template(
        "admin/roster.html",
        page=page,
        season=season,
        branch_id=branch_id,
        branches=visible_branches(db, scope),
        seasons=reads.roster.makeup_seasons(db, scope),
        form=AttendanceForm(),
        export_keys=ROSTER_HEADER,
    )


@bp.post("/nonreporters/roster/attendance")
@require(*STAFF)
def roster_attendance() -> Response:
    """Mark the selected flagged members as attended (or take it back)."""
    scope = current_scope()
    db = get_session()
    form = AttendanceForm()
    season = request.form.get("season", "")
    if form.validate_on_submit():
        flags = reads.roster.visible_flags(db, scope, form.flag_ids.data or [])
        attended = request.form.get("attended", "1") == "1"
        changed = mark_attended(db, flags, attended=attended)
        record("attend", f"makeup:{season}", {"flags": [f.id for f in flags], "attended": attended})
        db.commit()
        flash(_("%(n)d members updated.", n=changed), "success")
    return redirect(url_for("admin.roster", season=season))


ROSTER_HEADER = (
    "season",
    "name",
    "phone",
    "branch",
    "city",
    "employer",
    "reason",
    "flagged_at",
    "attended_at",
)


def _roster_rows(scope: Scope, season: str, branch_id: int | None) -> list[list[Any]]:
    return [
        [
            season,
            row.member.name,
            row.member.phone,
            row.branch_name,
            row.member.city,
            row.member.employer,
            row.flag.reason,
            row.flag.created_at,
            row.flag.attended_at,
        ]
        for row in reads.roster.iter_makeup_roster(
            get_session(), scope, season, branch_id=branch_id
        )
    ]


@bp.get("/nonreporters/roster.<any(csv, xlsx):fmt>")
@require(*STAFF)
def roster_export(fmt: str) -> Response:
    """The season's roster as CSV or XLSX."""
    scope, season, branch_id = _roster_args()
    keys, rows = export_columns(ROSTER_HEADER, _roster_rows(scope, season, branch_id))
    record("export", f"makeup:{season}:{fmt}", {"rows": len(rows), "columns": keys})
    get_session().commit()
    filename = f"补课名单-{season}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, export_header(keys), rows)
    return xlsx_response(filename, season, export_header(keys), rows)
