"""The inspection (考核检查): per branch and month, reporting, tasks done in time, help requests
within their deadlines, notices approved and their reach; exportable, each figure linked to
the list behind it."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import TOWNSHIP_ONLY, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.helpers import csv_response, xlsx_response
from infra.db import get_session
from models import reads
from models.period import parse_period, shift_period
from models.reads.inspection import RATE_TARGET, BranchInspection


def _period() -> tuple[str, str]:
    """The month asked for (default: last month, the last one closed), and an error text."""
    default = shift_period(reads.common.current_period(current_scope()), -1)
    given = request.args.get("period")
    if given is None or given == "":
        return default, ""
    period = parse_period(given)
    if period is None:
        return default, _("Write the month as YYYY-MM, e.g. 2026-03.")
    return period, ""


@bp.get("/inspection")
@require(*TOWNSHIP_ONLY)
def inspection() -> tuple[str, int]:
    """Every branch's figures for a month, those falling short first."""
    period, error = _period()
    db = get_session()
    rows = reads.inspection.inspection(db, current_scope(), period)
    record("view", "inspection", {"period": period})
    db.commit()
    return (
        render_template(
            "admin/inspection.html", rows=rows, period=period, error=error, target=RATE_TARGET
        ),
        400 if error else 200,
    )


def _header() -> list[str]:
    return [
        _("Month"),
        _("Branch"),
        _("Due to report"),
        _("Reported"),
        _("Reporting rate"),
        _("Tasks"),
        _("Tasks done in time"),
        _("Help requests"),
        _("Within their deadlines"),
        _("Notices"),
        _("Approved"),
        _("Recipients"),
        _("Reached"),
        _("Falls short on"),
    ]


def _cells(period: str, row: BranchInspection) -> list[Any]:
    names = {"rate": _("reporting"), "tasks": _("tasks"), "help": _("help requests")}
    return [
        period,
        row.name,
        row.due,
        row.reported,
        round(row.rate, 3) if row.rate is not None else "",
        row.tasks,
        row.tasks_in_time,
        row.help,
        row.help_in_time,
        row.notices,
        row.approved,
        row.recipients,
        row.reached,
        ", ".join(names[s] for s in row.shortfalls),
    ]


@bp.get("/inspection.<any(csv, xlsx):fmt>")
@require(*TOWNSHIP_ONLY)
def inspection_export(fmt: str) -> Response:
    """The month's inspection as CSV or XLSX (audited)."""
    period, _error = _period()
    db = get_session()
    rows = [_cells(period, row) for row in reads.inspection.inspection(db, current_scope(), period)]
    record("export", f"inspection:{period}:{fmt}")
    db.commit()
    filename = f"inspection-{period}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, _header(), rows)
    return xlsx_response(filename, period, _header(), rows)


__all__ = ["inspection", "inspection_export"]
