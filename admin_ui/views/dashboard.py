"""The dashboard: this month's reporting per branch, the trend, and what needs attention."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _

from admin_ui.auth import EVERYONE, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.charts import trend_svg
from admin_ui.forms import DecideForm, FeedbackForm
from admin_ui.helpers import arg_page
from infra.db import get_session
from models import reads
from models.user import Role


@bp.get("/")
@require(*EVERYONE)
def dashboard() -> str:
    """Branches by reporting rate, the 12-month trend, open help and unmatched texts; for the
    township also the help requests escalated to it (past their resolution deadline).

    A host organisation sees its members instead, and whose feedback is due this month.
    """
    scope = current_scope()
    db = get_session()
    if scope.role is Role.HOST:
        period = reads.common.current_period(scope)
        rows = reads.hosts.host_members(db, scope, period, page=arg_page())
        # The deeds of the members it hosts wait for the host too: its confirmation counts.
        deeds = reads.deeds.waiting_deeds(db, scope, per_page=20)
        record("view", "host_members", {"period": period, "page": rows.page})
        db.commit()
        return render_template(
            "admin/host_dashboard.html",
            rows=rows,
            period=period,
            form=FeedbackForm(),
            deeds=deeds,
            deed_members=reads.common.members_by_id(db, {d.member_id for d in deeds.items}),
            decide_form=DecideForm(),
        )
    data = reads.dashboard.dashboard(db, scope, page=arg_page())
    escalated = (
        reads.help_requests.late_requests(db, scope, "escalated") if scope.is_township else []
    )
    record("view", "dashboard", {"period": data.period})
    db.commit()
    chart = trend_svg(data.trend, _("Reported"), _("Studied"), _("Month in progress"))
    return render_template("admin/dashboard.html", data=data, chart=chart, escalated=escalated)
