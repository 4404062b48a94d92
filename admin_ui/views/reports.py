"""The reports grid: members by months, studied, reported without study, or missing."""

from __future__ import annotations

from flask import render_template

from admin_ui.auth import FOLLOW_UP, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.helpers import arg_branch, arg_page, arg_periods
from gateway.db import get_session
from models import admin
from models.scope import visible_branches

GRID_MONTHS = 12


@bp.get("/reports")
@require(*FOLLOW_UP)
def reports() -> str:
    """Members by months for a range (12 months to now by default), one branch or all."""
    scope = current_scope()
    db = get_session()
    periods, range_error = arg_periods(admin.current_period(scope), GRID_MONTHS)
    branch_id = arg_branch(scope)
    grid = admin.reports_grid(db, scope, periods, branch_id=branch_id, page=arg_page())
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
        running=admin.current_period(scope),
    )
