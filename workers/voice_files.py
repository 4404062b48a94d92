"""Lessons' audio at a voice provider that plays only files it approved (Alibaba Cloud voice).

A lesson is uploaded by a job (started from the lesson page, or when a lesson is saved while
the provider needs files), then reviewed by the provider (about two hours). The outbox sweep
asks the provider where the reviews stand and hands on uploads whose job was lost, so no
periodic job of its own is needed. With a provider that plays any audio (Twilio) none of this
runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from infra import clients, filestore
from infra.providers.base import ProviderError, VoiceFiles
from models import Lesson, utcnow
from models.lesson import (
    VoiceFileState,
    lessons_with_voice,
    voice_reviewed,
    voice_upload_failed,
    voice_uploaded,
)
from workers.context import app_context
from workers.queues import DEFAULT, enqueue, enqueue_after_commit

# An upload still marked as on its way this long after it started lost its job.
UPLOAD_GRACE = timedelta(minutes=5)
# How often one lesson's review is asked about while it lasts.
REVIEW_CHECK_EVERY = timedelta(minutes=1)


def voice_files_provider() -> VoiceFiles | None:
    """The app's provider when its calls play only approved files, else None."""
    provider = clients.provider()
    return provider if isinstance(provider, VoiceFiles) else None


def upload_job_id(lesson_id: int) -> str:
    """The job id of uploading one lesson's audio."""
    return f"lesson-voice-{lesson_id}"


def enqueue_voice_upload(session: Session, lesson: Lesson) -> None:
    """Upload the lesson's audio once the session commits."""
    enqueue_after_commit(
        session, upload_lesson_voice, lesson.id, queue=DEFAULT, job_id=upload_job_id(lesson.id)
    )


def upload_lesson_voice(lesson_id: int) -> str:
    """Job: send one lesson's audio to the voice provider; say what became of it."""
    with app_context() as session:
        lesson = session.get(Lesson, lesson_id)
        if lesson is None or lesson.voice_state is not VoiceFileState.UPLOADING:
            return "nothing"
        provider = voice_files_provider()
        now = utcnow()
        if provider is None or not lesson.audio_path:
            voice_upload_failed(session, lesson, "this provider takes no audio files", now)
            session.commit()
            return "failed"
        path = Path(lesson.audio_path)
        content = filestore.read(lesson.audio_path)
        if content is None:
            voice_upload_failed(session, lesson, "audio file unreadable: not in the store", now)
            session.commit()
            return "failed"
        try:
            code = provider.upload_voice_file(f"lesson-{lesson.id}{path.suffix}", content)
        except ProviderError as exc:
            if exc.transient:
                raise  # RQ's failed registry; the sweep hands the upload on again
            voice_upload_failed(session, lesson, str(exc), now)
            session.commit()
            return "failed"
        voice_uploaded(session, lesson, code, now)
        session.commit()
        return "uploaded"


def sweep_voice_files(session: Session, now: datetime) -> int:
    """For the outbox sweep: ask the provider about files in review (each at most once a
    minute) and hand on uploads whose job was lost; returns how many lessons changed."""
    uploading = lessons_with_voice(session, VoiceFileState.UPLOADING)
    reviewing = [
        lesson
        for lesson in lessons_with_voice(session, VoiceFileState.IN_REVIEW)
        if lesson.voice_checked_at is None or lesson.voice_checked_at <= now - REVIEW_CHECK_EVERY
    ]
    if not uploading and not reviewing:
        return 0
    provider = voice_files_provider()
    if provider is None:
        return 0
    for lesson in uploading:
        if lesson.voice_checked_at is None or lesson.voice_checked_at <= now - UPLOAD_GRACE:
            enqueue(upload_lesson_voice, lesson.id, queue=DEFAULT, job_id=upload_job_id(lesson.id))
    if not reviewing:
        return 0
    try:
        reviews = provider.voice_file_reviews([lesson.voice_code or "" for lesson in reviewing])
    except ProviderError as exc:
        current_app.logger.warning("voice file reviews not read: %s", exc)
        return 0
    changed = 0
    for lesson in reviewing:
        review = reviews.get(lesson.voice_code or "")
        approved = review.approved if review is not None else None
        changed += voice_reviewed(session, lesson, approved, review.note if review else None, now)
    return changed


__all__ = [
    "enqueue_voice_upload",
    "sweep_voice_files",
    "upload_job_id",
    "upload_lesson_voice",
    "voice_files_provider",
]
