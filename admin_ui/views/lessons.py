"""Lessons: upload audio with its title, category and transcript; campaigns; listening figures."""

from __future__ import annotations

import mimetypes
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_account, current_scope, require
from admin_ui.blueprint import bp
from admin_ui.forms import CampaignForm, LessonForm, options
from admin_ui.helpers import arg_page
from admin_ui.i18n import bilingual
from admin_ui.uploads import UploadError, store_lesson_audio
from gateway.limits import accepts_upload
from infra import clients, filestore
from infra.db import get_session
from models import reads
from models.base import utcnow
from models.lesson import (
    UPLOADABLE,
    CampaignError,
    LessonCategory,
    campaign_progress,
    create_campaign,
    create_lesson,
    start_voice_upload,
)
from models.org import Organization
from models.scope import visible_branches
from workers.campaigns import start_campaign
from workers.voice_files import enqueue_voice_upload, voice_files_provider


def _upload_message(reason: str, limit_mb: int) -> str:
    if reason == "type":
        return _("Only MP3 or WAV audio can be uploaded.")
    if reason == "size":
        return _("The file is too large: at most %(mb)s MB.", mb=limit_mb)
    return _("The file is empty.")


def _campaign_form(form: CampaignForm | None = None) -> CampaignForm:
    scope = current_scope()
    db = get_session()
    form = form or CampaignForm()
    form.lesson_id.choices = options(
        (row.lesson.id, _("Lesson %(number)s", number=row.lesson.id) + " " + row.lesson.title)
        for row in reads.lessons.lessons(db, scope, per_page=100).items
    )
    form.branches.choices = options((b.id, b.name) for b in visible_branches(db, scope))
    return form


def _page(status: int = 200, **forms: Any) -> tuple[str, int]:
    scope = current_scope()
    db = get_session()
    page = reads.lessons.lessons(db, scope, page=arg_page())
    campaigns = reads.lessons.campaigns(db, scope, per_page=10)
    progress = {c.id: campaign_progress(db, c.id) for c in campaigns.items}
    titles = {row.lesson.id: row.lesson.title for row in page.items}
    return (
        render_template(
            "admin/lessons.html",
            page=page,
            campaigns=campaigns,
            progress=progress,
            titles=titles,
            form=forms.get("form") or LessonForm(),
            campaign_form=forms.get("campaign_form") or _campaign_form(),
            max_mb=current_app.config.get("MAX_UPLOAD_MB", 20),
            voice_files=voice_files_provider() is not None,
            uploadable=UPLOADABLE,
            own_org=current_account().user.org_id,
        ),
        status,
    )


@bp.get("/lessons")
@require(*STAFF)
def lessons() -> tuple[str, int]:
    """The township's lessons with listening figures, the upload form and campaigns."""
    return _page()


@bp.post("/lessons")
@accepts_upload
@require(*STAFF)
def lesson_upload() -> Any:
    """Store an uploaded lesson after checking its type and size."""
    form = LessonForm()
    if not form.validate_on_submit():
        return _page(400, form=form)
    config = current_app.config
    limit_mb = int(config.get("MAX_UPLOAD_MB", 20))
    try:
        path, seconds = store_lesson_audio(form.audio.data, limit_mb * 1024 * 1024)
    except UploadError as exc:
        form.audio.errors = [_upload_message(exc.reason, limit_mb)]
        return _page(400, form=form)
    db = get_session()
    lesson = create_lesson(
        db,
        org_id=current_account().user.org_id,
        title=form.title.data or "",
        category=LessonCategory(form.category.data),
        audio_path=path,
        transcript=form.transcript.data or "",
        duration=seconds,
        author_id=current_account().id,
    )
    # A provider that plays only approved files gets the audio now: its review takes hours.
    if voice_files_provider() is not None and start_voice_upload(db, lesson, utcnow()):
        enqueue_voice_upload(db, lesson)
    db.commit()
    flash(_("The lesson is published."), "success")
    return redirect(url_for("admin.lessons"))


@bp.post("/lessons/<int:lesson_id>/voice-file")
@require(*STAFF)
def lesson_voice_upload(lesson_id: int) -> Any:
    """Send a lesson's audio to the voice provider for review (the lesson's own office only)."""
    db = get_session()
    lesson = reads.lessons.visible_lesson(db, current_scope(), lesson_id)
    if lesson is None or lesson.org_id != current_account().user.org_id:
        abort(404)
    if voice_files_provider() is None:
        abort(404)
    if start_voice_upload(db, lesson, utcnow(), author_id=current_account().id):
        enqueue_voice_upload(db, lesson)
        flash(_("The audio is being sent for review."), "success")
    else:
        flash(_("This lesson's audio is already sent or approved."), "error")
    db.commit()
    return redirect(url_for("admin.lessons"))


@bp.get("/lessons/<int:lesson_id>/audio")
@require(*STAFF)
def lesson_audio(lesson_id: int) -> Response:
    """Play a lesson's audio."""
    lesson = reads.lessons.visible_lesson(get_session(), current_scope(), lesson_id)
    if lesson is None or not lesson.audio_path:
        abort(404)
    return filestore.send(lesson.audio_path, mimetypes.guess_type(lesson.audio_path)[0])


@bp.post("/lessons/campaigns")
@require(*STAFF)
def campaign_create() -> Any:
    """Call the chosen branches' members (all, if none chosen) to play a lesson."""
    form = _campaign_form(CampaignForm())
    if not form.validate_on_submit():
        return _page(400, campaign_form=form)
    db = get_session()
    org = db.get(Organization, current_account().user.org_id)
    if org is None:
        abort(404)
    branches = form.branches.data or []
    try:
        campaign = create_campaign(
            db,
            lesson_id=form.lesson_id.data,
            org=org,
            author_id=current_account().id,
            target={"branches": branches} if branches else {},
            now=utcnow(),
            playback=clients.provider().lesson_playback,
        )
    except CampaignError as exc:
        form.lesson_id.errors = [*form.lesson_id.errors, bilingual(exc)]
        return _page(400, campaign_form=form)
    start_campaign(db, campaign)
    db.commit()
    flash(_("The lesson calls are starting."), "success")
    return redirect(url_for("admin.lessons"))
