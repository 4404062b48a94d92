"""The yearly review (一年一评): each member's year of reports, lessons, help and contact."""

from __future__ import annotations

from typing import Any

from flask import render_template
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.helpers import arg_branch, arg_int, arg_page, csv_response, xlsx_response
from admin_ui.i18n import export_header
from gateway.db import get_session
from models import admin
from models.scope import Scope, visible_branches

REVIEW_HEADER = (
    "year",
    "name",
    "phone",
    "branch",
    "reports",
    "studied",
    "lessons",
    "help_requests",
    "monthly_contacts",
    "home_visits",
    "host_feedback",
)


def _year(scope: Scope) -> int:
    current = int(admin.current_period(scope)[:4])
    year = arg_int("year", current) or current
    return year if 2000 <= year <= current else current


@bp.get("/review")
@require(*STAFF)
def review() -> str:
    """Per member: the year's reports, lessons, help requests and contact log."""
    scope = current_scope()
    db = get_session()
    year = _year(scope)
    branch_id = arg_branch(scope)
    page = admin.yearly_review(db, scope, year, branch_id=branch_id, page=arg_page())
    record("view", f"review:{year}", {"branch": branch_id, "page": page.page})
    db.commit()
    current = int(admin.current_period(scope)[:4])
    return render_template(
        "admin/review.html",
        page=page,
        year=year,
        years=list(range(current, current - 6, -1)),
        branch_id=branch_id,
        branches=visible_branches(db, scope),
    )


@bp.get("/review.<any(csv, xlsx):fmt>")
@require(*STAFF)
def review_export(fmt: str) -> Response:
    """The whole review of a year as CSV or XLSX."""
    scope = current_scope()
    db = get_session()
    year = _year(scope)
    branch_id = arg_branch(scope)
    rows: list[list[Any]] = [
        [
            year,
            r.member.name,
            r.member.phone,
            r.branch_name,
            r.reports,
            r.studied,
            r.lessons,
            r.help_requests,
            r.contacts,
            r.home_visits,
            r.feedback,
        ]
        for r in admin.iter_yearly_review(db, scope, year, branch_id=branch_id)
    ]
    record("export", f"review:{year}:{fmt}", {"branch": branch_id, "rows": len(rows)})
    db.commit()
    filename = f"一年一评-{year}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, export_header(REVIEW_HEADER), rows)
    return xlsx_response(filename, str(year), export_header(REVIEW_HEADER), rows)
