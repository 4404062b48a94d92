"""The reports grid: members by months, studied, reported without study, or missing."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import FOLLOW_UP, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.helpers import arg_branch, arg_page, arg_periods, csv_response, xlsx_response
from admin_ui.i18n import DEFAULT_LANGUAGE, export_header, label
from admin_ui.views.privacy import export_columns
from infra.db import get_session
from models import reads
from models.exports import REPORT_HEADER, report_rows
from models.period import parse_period
from models.scope import visible_branches

GRID_MONTHS = 12


@bp.get("/reports")
@require(*FOLLOW_UP)
def reports() -> str:
    """Members by months for a range (12 months to now by default), one branch or all."""
    scope = current_scope()
    db = get_session()
    periods, range_error = arg_periods(reads.common.current_period(scope), GRID_MONTHS)
    branch_id = arg_branch(scope)
    grid = reads.reports_grid.reports_grid(db, scope, periods, branch_id=branch_id, page=arg_page())
    record(
        "view",
        "reports",
        {"from": periods[0], "to": periods[-1], "branch": branch_id, "page": grid.page},
    )
    db.commit()
    return render_template(
        "admin/reports.html",
        grid=grid,
        periods=periods,
        branch_id=branch_id,
        branches=visible_branches(db, scope),
        range_error=range_error,
        running=reads.common.current_period(scope),
        export_keys=REPORT_HEADER,
    )


def _in_words(row: list[Any]) -> list[Any]:
    """A report export row as people read it: 是/否, and the channel's name."""
    words = {"yes": _("yes"), "no": _("no")}
    reported, studied, channel = row[4], row[5], row[8]
    return [
        *row[:4],
        words.get(reported, reported),
        words.get(studied, studied),
        *row[6:8],
        label("channel", channel) if channel else "",
        *row[9:],
    ]


@bp.get("/reports.<any(csv, xlsx):fmt>")
@require(*FOLLOW_UP)
def reports_export(fmt: str) -> Response:
    """One month's reports of the members the user sees (one branch or all), CSV or XLSX."""
    scope = current_scope()
    db = get_session()
    period = parse_period(request.args.get("period")) or reads.common.current_period(scope)
    branch_id = arg_branch(scope)
    clause = reads.common.member_scope(scope, branch_id)
    with force_locale(DEFAULT_LANGUAGE):
        every = [_in_words(row) for row in report_rows(db, period, None, clause)]
    keys, rows = export_columns(REPORT_HEADER, every)
    record(
        "export",
        f"reports:{period}:{fmt}",
        {"branch": branch_id, "rows": len(rows), "columns": keys},
    )
    db.commit()
    filename = f"月度汇报-{period}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, export_header(keys), rows)
    return xlsx_response(filename, period, export_header(keys), rows)
