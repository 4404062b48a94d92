"""UPLOAD_STORE=database: lesson audio uploaded on one web host is served by any other, from
the database, and no file is written to UPLOAD_DIR."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway import create_app
from models import Lesson, StoredFile
from tests.admin_ui.world import World, db, login_as, tone_wav


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "UPLOAD_STORE": "database"}


def seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        return audio.getnframes() / audio.getframerate()


def test_uploaded_audio_is_served_by_another_host_from_the_database(
    app: Flask, client: FlaskClient, world: World, app_config: dict[str, Any], tmp_path: Path
) -> None:
    before = sorted(Path(app.config["UPLOAD_DIR"]).rglob("*"))
    audio = tone_wav(3.0)
    admin = login_as(client, "township")
    done = admin.post(
        "/admin/lessons",
        {"title": "库存课程", "category": "skills", "audio": (io.BytesIO(audio), "lesson.wav")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    assert sorted(Path(app.config["UPLOAD_DIR"]).rglob("*")) == before  # nothing on disk
    with db(app) as session:
        lesson = session.scalar(select(Lesson).where(Lesson.title == "库存课程"))
        assert lesson is not None and lesson.audio_path and lesson.duration == 3
        stored = session.scalar(select(StoredFile).where(StoredFile.path == lesson.audio_path))
        assert stored is not None and stored.data == audio and stored.size == len(audio)
        lesson_id, path = lesson.id, lesson.audio_path
    played = admin.get(f"/admin/lessons/{lesson_id}/audio")
    assert played.status_code == 200 and played.get_data() == audio

    # Another web host: its own (empty) UPLOAD_DIR, the same database.
    other = create_app({**app_config, "UPLOAD_DIR": str(tmp_path / "other-host")})
    try:
        media = other.test_client().get(f"/media/{path}")
        assert media.status_code == 200
        assert media.get_data() == audio
        assert media.mimetype == "audio/wav"
        resumed = other.test_client().get(f"/media/{path}?from=2")
        assert resumed.status_code == 200
        assert seconds(resumed.get_data()) == pytest.approx(1.0, abs=0.05)
        missing = other.test_client().get("/media/lessons/0123456789abcdef01234567.wav")
        assert missing.status_code == 404
        assert other.test_client().get("/media/lessons/x.wav?from=1").status_code == 404
        assert other.test_client().get(f"/media/registers/{Path(path).name}").status_code == 404
    finally:
        other.extensions["db_engine"].dispose()


def test_unknown_store_is_refused() -> None:
    from infra.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="UPLOAD_STORE"):
        load_config(environ={"UPLOAD_STORE": "s3"})
