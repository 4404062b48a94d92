"""Playing a member's recording: the provider fetches only its own recordings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import Recording
from tests.admin_ui.world import World, db, login_as
from tests.gateway.sandbox_api import running_sandbox
from tests.gateway.test_recordings import Seen, handler_for
from tests.tls import serve


def _recording_at(app: Flask, world: World, url: str) -> int:
    """Point the world's recording at `url`, as a webhook might once have stored it."""
    with db(app) as session:
        recording = session.get(Recording, world.recording_id)
        assert recording is not None
        recording.url = url
        session.commit()
    return world.recording_id


@pytest.fixture
def foreign() -> Iterator[tuple[str, Seen]]:
    """A server on a host that is not the provider's, noting every request it gets."""
    seen = Seen()
    with serve(handler_for(seen)) as origin:
        yield origin, seen


def test_a_recording_on_a_foreign_host_is_not_fetched(
    app: Flask, client: FlaskClient, world: World, foreign: tuple[str, Seen]
) -> None:
    """A stored URL on another host answers 404 and that host is never asked."""
    origin, seen = foreign
    recording_id = _recording_at(app, world, f"{origin}/_sandbox/recordings/RE1.wav")
    admin = login_as(client, "branch")
    assert admin.get(f"/admin/recordings/{recording_id}/audio").status_code == 404
    assert seen.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://api.evil-twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "",
    ],
)
def test_metadata_and_look_alike_hosts_are_refused_at_once(
    app: Flask, client: FlaskClient, world: World, url: str
) -> None:
    """No request leaves for the cloud's metadata address or a host ending in twilio.com."""
    recording_id = _recording_at(app, world, url)
    admin = login_as(client, "branch")
    started = time.monotonic()
    assert admin.get(f"/admin/recordings/{recording_id}/audio").status_code == 404
    assert time.monotonic() - started < 1


@pytest.fixture
def sandbox(tmp_path: Path, app_config: dict[str, Any]) -> Iterator[str]:
    """The real sandbox service, as the app's SANDBOX_URL."""
    with running_sandbox(tmp_path / "sandbox.db") as url:
        app_config["SANDBOX_URL"] = url
        yield url


def test_a_sandbox_recording_still_plays(
    sandbox: str, app: Flask, client: FlaskClient, world: World
) -> None:
    """With PROVIDER=sandbox, a recording the sandbox serves is fetched from it and played."""
    recording_id = _recording_at(app, world, f"{sandbox}/_sandbox/recordings/RE{'9' * 32}")
    admin = login_as(client, "branch")
    audio = admin.get(f"/admin/recordings/{recording_id}/audio")
    assert audio.status_code == 200
    assert audio.get_data()[:4] == b"RIFF"
