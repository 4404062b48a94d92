"""Members: the searchable list, the member's file, editing, phone changes, contact log."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _

from admin_ui.auth import (
    EVERYONE,
    FOLLOW_UP,
    STAFF,
    current_account,
    current_scope,
    record,
    require,
)
from admin_ui.blueprint import bp
from admin_ui.forms import (
    ContactForm,
    DecideForm,
    EraseForm,
    FeedbackForm,
    MemberForm,
    PhoneForm,
    PlainForm,
    options,
)
from admin_ui.helpers import arg_branch, arg_page
from infra.clients import provider
from infra.db import get_session
from infra.providers import ProviderError, RecordingRefused, RedirectRefused
from models import reads
from models.call import Recording
from models.contact import ContactKind, log_contact
from models.member import (
    ChangeSource,
    Language,
    Member,
    MembershipStatus,
    PhoneTaken,
    change_phone,
    update_member,
)
from models.notice import notices_of
from models.org import Organization
from models.period import parse_period
from models.phones import normalize_phone
from models.privacy import sees_full_numbers
from models.rating import member_ratings
from models.scope import visible_branches
from models.user import Role


def _member_or_404(member_id: int) -> Member:
    member = reads.members.visible_member(get_session(), current_scope(), member_id)
    if member is None:
        abort(404)
    return member


@bp.get("/members")
@require(*EVERYONE)
def members() -> str:
    """The scope's members: search by name, phone or card number; filter; page."""
    scope = current_scope()
    db = get_session()
    period = parse_period(request.args.get("period")) or reads.common.current_period(scope)
    reported_arg = request.args.get("reported", "")
    filters = reads.members.MemberFilter(
        q=request.args.get("q", "")[:64],
        branch_id=arg_branch(scope),
        city=request.args.get("city", "")[:64],
        status=request.args.get("status", "")
        if request.args.get("status") in ("full", "probationary")
        else "",
        reported={"yes": True, "no": False}.get(reported_arg),
        period=period,
        active=request.args.get("inactive") != "1",
    )
    page = reads.members.search_members(db, scope, filters, page=arg_page())
    record(
        "view",
        "members",
        {"q": filters.q, "branch": filters.branch_id, "reported": reported_arg, "page": page.page},
    )
    db.commit()
    return render_template(
        "admin/members.html",
        page=page,
        filters=filters,
        reported=reported_arg,
        branches=visible_branches(db, scope),
        cities=reads.members.member_cities(db, scope),
    )


def _file_page(
    member: Member, status: int = 200, *, revealed: bool = False, **forms: Any
) -> tuple[str, int]:
    scope = current_scope()
    db = get_session()
    data = reads.member_file.member_file(db, scope, member)
    record("view", f"member:{member.id}")
    db.commit()
    role = current_account().role
    ratings = member_ratings(db, member.id) if role in STAFF else []
    deeds = reads.deeds.member_deeds(db, member.id)
    context: dict[str, Any] = {
        "deeds": deeds,
        "survey_answers": reads.survey.member_answers(db, member.id),
        "deciders": reads.common.user_names(db, {d.decided_by for d in deeds}),
        "can_decide": role is not Role.LIAISON,
        "decide_form": DecideForm(),
        "ratings": ratings,
        "raters": reads.common.user_names(db, {r.rater_id for r in ratings}),
        "file": data,
        "can_edit": role in STAFF,
        "can_log": role in FOLLOW_UP,
        "is_host": role is Role.HOST,
        "revealed": revealed,
        "can_reveal": sees_full_numbers(role),
        "plain_form": PlainForm(),
        "erase_form": EraseForm(),
        "notices": notices_of(db, member.id),
        "contact_form": forms.get("contact_form") or ContactForm(),
        "feedback_form": forms.get("feedback_form") or FeedbackForm(),
        "phone_form": forms.get("phone_form") or PhoneForm(),
    }
    return render_template("admin/member_file.html", **context), status


@bp.get("/members/<int:member_id>")
@require(*EVERYONE)
def member_file(member_id: int) -> tuple[str, int]:
    """The member's registration and tracking card."""
    return _file_page(_member_or_404(member_id))


def _edit_choices(form: MemberForm, member: Member) -> None:
    db = get_session()
    offered = reads.members.host_choices(db, current_scope())
    if member.host_org_id is not None and member.host_org_id not in {h.id for h in offered}:
        # The member's present host stays a choice (saving the form must not detach them).
        current = db.get(Organization, member.host_org_id)
        offered = [current, *offered] if current is not None else offered
    hosts = [(h.id, h.name + (f" ({h.city})" if h.city else "")) for h in offered]
    liaisons = [
        (u.id, u.display_name or u.username)
        for u in reads.members.liaison_choices(db, member.branch_id)
    ]
    form.host_org_id.choices = options([(None, "-"), *hosts])
    form.liaison_id.choices = options([(None, "-"), *liaisons])


@bp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
@require(*STAFF)
def member_edit(member_id: int) -> Any:
    """Edit a member's details; city, employer and host moves keep their history."""
    member = _member_or_404(member_id)
    form = MemberForm(obj=member if request.method == "GET" else None)
    if request.method == "GET":
        form.status.data = member.status.value
        form.language.data = member.language.value
    _edit_choices(form, member)
    if form.validate_on_submit():
        details = {
            name: getattr(form, name).data
            for name in (
                "name",
                "status",
                "birth_year",
                "departure_date",
                "liaison_id",
                "language",
                "active",
            )
        }
        for name in (
            "sex",
            "education",
            "occupation",
            "industry",
            "province",
            "reason",
            "card_no",
            "window_start",
            "window_end",
        ):
            details[name] = (getattr(form, name).data or "").strip() or None
        details["name"] = details["name"].strip()
        details["status"] = MembershipStatus(details["status"])
        details["language"] = Language(details["language"])
        details["city"] = (form.city.data or "").strip() or None
        details["employer"] = (form.employer.data or "").strip() or None
        details["host_org_id"] = form.host_org_id.data
        db = get_session()
        changed = update_member(db, member, details, source=ChangeSource.ADMIN)
        record("edit", f"member:{member.id}", {"fields": changed})
        db.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("admin.member_file", member_id=member.id))
    status = 400 if form.errors else 200
    return render_template("admin/member_edit.html", form=form, member=member), status


@bp.post("/members/<int:member_id>/phone")
@require(*STAFF)
def member_phone(member_id: int) -> Any:
    """Give the member a new registered phone; the old one stays in the history."""
    member = _member_or_404(member_id)
    form = PhoneForm()
    if form.validate_on_submit():
        db = get_session()
        phone = normalize_phone(form.phone.data, current_app.config.get("DEFAULT_REGION", "CN"))
        try:
            changed = change_phone(db, member, phone, source=ChangeSource.ADMIN)
        except PhoneTaken:
            form.phone.errors.append(_("Another member already has this number."))
        else:
            if changed:
                record("edit", f"member:{member.id}", {"fields": ["phone"]})
                db.commit()
                flash(_("The phone number is changed."), "success")
            return redirect(url_for("admin.member_file", member_id=member.id))
    return _file_page(member, 400, phone_form=form)


@bp.post("/members/<int:member_id>/contacts")
@require(*EVERYONE)
def member_contact(member_id: int) -> Any:
    """Log a monthly contact or home visit; a host organisation logs its feedback."""
    member = _member_or_404(member_id)
    account = current_account()
    db = get_session()
    if account.role is Role.HOST:
        feedback = FeedbackForm()
        if not feedback.validate_on_submit():
            return _file_page(member, 400, feedback_form=feedback)
        assert feedback.contact_date.data is not None
        log_contact(
            db,
            member.id,
            kind=ContactKind.HOST_FEEDBACK,
            contact_date=feedback.contact_date.data,
            note=feedback.note.data or "",
            user_id=account.id,
        )
    else:
        form = ContactForm()
        if not form.validate_on_submit():
            return _file_page(member, 400, contact_form=form)
        assert form.contact_date.data is not None
        log_contact(
            db,
            member.id,
            kind=ContactKind(form.kind.data),
            contact_date=form.contact_date.data,
            note=form.note.data or "",
            user_id=account.id,
        )
    record("contact", f"member:{member.id}")
    db.commit()
    flash(_("Added to the contact log."), "success")
    return redirect(url_for("admin.member_file", member_id=member.id) + "#contacts")


@bp.get("/recordings/<int:recording_id>/audio")
@require(*FOLLOW_UP)
def recording_audio(recording_id: int) -> Response:
    """Play a member's recording: fetched from the provider (with our credentials) or disk."""
    db = get_session()
    recording = db.get(Recording, recording_id)
    if recording is None:
        abort(404)
    scope = current_scope()
    if recording.member_id is not None:
        member = db.get(Member, recording.member_id)
        if member is None or not scope.sees_member(member):
            abort(404)
    elif not scope.sees_strangers:
        abort(404)
    record("play", f"recording:{recording.id}")
    db.commit()
    return _audio(recording.url)


def _audio(url: str) -> Response:
    """The audio behind a recording URL (fetched by the provider, which refuses any URL not
    its own), or a file under UPLOAD_DIR for a relative path the app wrote itself."""
    if not url:
        abort(404)  # a webhook's RecordingUrl that was not the provider's was not kept
    if urlsplit(url).scheme not in ("http", "https"):
        upload_dir = Path(current_app.config["UPLOAD_DIR"])
        return send_from_directory(upload_dir, url, mimetype=mimetypes.guess_type(url)[0])
    try:
        audio = provider().fetch_recording(url)
    except RedirectRefused as exc:
        current_app.logger.warning("recording %r not played: %s", url, exc)
        abort(502)  # the URL is the provider's; where it sent us is not
    except RecordingRefused:
        current_app.logger.warning("recording URL refused: %r", url)
        abort(404)
    except ProviderError:
        abort(502)
    response = Response(audio.content, mimetype=audio.mimetype)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
