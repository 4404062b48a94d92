"""The yearly review (一年一评): each member's year of reports, lessons, help and contact."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import RatingForm
from admin_ui.helpers import arg_branch, arg_int, arg_page, csv_response, xlsx_response
from admin_ui.i18n import bilingual, export_header, label
from admin_ui.views.privacy import export_columns
from infra.db import get_session
from models import reads
from models.period import Period
from models.rating import GRADE_ZH, Grade, RatingError, rate_member
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
    "rating",
    "rated_by",
    "rated_at",
    "rating_reason",
)
GRADES = tuple(g.value for g in Grade)


def _grade() -> str | None:
    """The rating filter: a grade, UNRATED, or None for everyone."""
    grade = request.args.get("rating", "").strip()
    return grade if grade in GRADES or grade == reads.review.UNRATED else None


def _year(scope: Scope) -> int:
    current = Period.parse(reads.common.current_period(scope)).year
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
    grade = _grade()
    page = reads.review.yearly_review(
        db, scope, year, branch_id=branch_id, grade=grade, page=arg_page()
    )
    record("view", f"review:{year}", {"branch": branch_id, "rating": grade, "page": page.page})
    db.commit()
    current = Period.parse(reads.common.current_period(scope)).year
    return render_template(
        "admin/review.html",
        page=page,
        year=year,
        years=list(range(current, current - 6, -1)),
        branch_id=branch_id,
        branches=visible_branches(db, scope),
        grade=grade,
        unrated=reads.review.UNRATED,
        rating_form=RatingForm(),
        export_keys=REVIEW_HEADER,
    )


@bp.post("/review/rate")
@require(*STAFF)
def review_rate() -> Response:
    """Rate a member for a year (优秀, 合格, 基本合格, 不合格) with the reason."""
    scope = current_scope()
    db = get_session()
    form = RatingForm()
    year = form.year.data
    back = url_for("admin.review", year=year) if year else url_for("admin.review")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(request.form.get("next") or back)
    member = reads.members.visible_member(db, scope, form.member_id.data or 0)
    if member is None:
        abort(404)
    current = Period.parse(reads.common.current_period(scope)).year
    if not 2000 <= (year or 0) <= current:
        flash(_("A rating is for this year or an earlier one."), "error")
        return redirect(back)
    try:
        rating, previous = rate_member(
            db,
            member.id,
            year or current,
            form.grade.data or "",
            form.reason.data or "",
            rater_id=current_account().id,
        )
    except RatingError as exc:
        flash(bilingual(exc), "error")
        return redirect(back)
    detail: dict[str, Any] = {
        "year": rating.year,
        "grade": rating.grade.value,
        "reason": rating.reason,
    }
    if previous is not None:
        detail["previous"] = {"grade": previous.grade.value, "reason": previous.reason}
    record("rate", f"member:{member.id}", detail)
    db.commit()
    flash(
        _(
            "%(name)s rated %(grade)s for %(year)d.",
            name=member.name,
            grade=label("grade", rating.grade),
            year=rating.year,
        ),
        "success",
    )
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/admin/review") else back)


@bp.get("/review/basis.<any(csv, xlsx):fmt>")
@require(*STAFF)
def review_basis_export(fmt: str) -> Response:
    """The review's basis (as `flask review export` writes it) for the page's filters."""
    scope = current_scope()
    db = get_session()
    year = _year(scope)
    branch_id = arg_branch(scope)
    grade = _grade()
    header, rows = export_columns(
        reads.review.BASIS_HEADER,
        reads.review.basis_rows(db, scope, year, branch_id=branch_id, grade=grade),
    )
    record(
        "export",
        f"review_basis:{year}:{fmt}",
        {"branch": branch_id, "rating": grade, "rows": len(rows), "columns": header},
    )
    db.commit()
    filename = f"一年一评依据-{year}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, header, rows)
    return xlsx_response(filename, str(year), header, rows)


@bp.get("/review.<any(csv, xlsx):fmt>")
@require(*STAFF)
def review_export(fmt: str) -> Response:
    """The whole review of a year as CSV or XLSX."""
    scope = current_scope()
    db = get_session()
    year = _year(scope)
    branch_id = arg_branch(scope)
    grade = _grade()
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
            GRADE_ZH[r.rating.grade] if r.rating else "",
            r.rater if r.rating else "",
            r.rating.rated_at if r.rating else "",
            r.rating.reason if r.rating else "",
        ]
        for r in reads.review.iter_yearly_review(db, scope, year, branch_id=branch_id, grade=grade)
    ]
    keys, rows = export_columns(REVIEW_HEADER, rows)
    record(
        "export",
        f"review:{year}:{fmt}",
        {"branch": branch_id, "rating": grade, "rows": len(rows), "columns": keys},
    )
    db.commit()
    filename = f"一年一评-{year}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, export_header(keys), rows)
    return xlsx_response(filename, str(year), export_header(keys), rows)
