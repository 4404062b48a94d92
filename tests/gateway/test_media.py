"""GET /media: uploaded lesson audio is public for Twilio to play; nothing else is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient


@pytest.fixture
def uploads(app: Flask) -> Path:
    """The app's upload folder with one lesson and one private file."""
    root = Path(app.config["UPLOAD_DIR"])
    (root / "lessons").mkdir(parents=True)
    (root / "lessons" / "a1.mp3").write_bytes(b"ID3fake-audio")
    (root / "private").mkdir()
    (root / "private" / "x.mp3").write_bytes(b"secret")
    return root


def test_lesson_audio_is_served_with_its_type(client: FlaskClient, uploads: Path) -> None:
    """A lesson's mp3 is served as audio/mpeg without a login."""
    response = client.get("/media/lessons/a1.mp3")
    assert response.status_code == 200
    assert response.mimetype == "audio/mpeg"
    assert response.data == b"ID3fake-audio"


@pytest.mark.parametrize(
    "path",
    [
        "/media/private/x.mp3",
        "/media/lessons/missing.mp3",
        "/media/lessons/a1.txt",
        "/media/lessons/..%2Fprivate%2Fx.mp3",
        "/media/lessons/../private/x.mp3",
    ],
)
def test_anything_else_is_not_found(client: FlaskClient, uploads: Any, path: str) -> None:
    """Other folders, other types, missing files and path tricks give 404."""
    assert client.get(path).status_code == 404
