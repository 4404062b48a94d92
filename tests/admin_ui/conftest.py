"""Fixtures for the admin pages: a small world of organisations, users and members, and a
client that logs in and carries the CSRF token like a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from infra.db import get_session
from tests.admin_ui.world import (
    AdminClient,
    World,
    build_world,
    tone_wav,
)


@pytest.fixture
def world(app: Flask) -> World:
    """The standard admin world, committed, with its audio files in UPLOAD_DIR.

    Built in an app context of its own: a context left pushed would be shared by every
    request the test client makes (Flask reuses it), and with it `g` and the session.
    """
    upload_dir = Path(app.config["UPLOAD_DIR"])
    for relative in ("recordings/thought.wav", "lessons/policy.wav"):
        target = upload_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tone_wav())
    with app.app_context():
        return build_world(get_session())


@pytest.fixture
def admin(client: FlaskClient) -> AdminClient:
    """A browser-like client for the admin."""
    return AdminClient(client)
