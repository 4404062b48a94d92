"""Request bodies over real HTTP (gunicorn): small limits everywhere, the upload's on uploads only."""

from __future__ import annotations

import re
import shutil
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from devtools.servers import free_port
from gateway import create_app
from infra.db import get_session
from models import Lesson
from tests.admin_ui.world import PASSWORD, build_world, tone_wav
from tests.live_server import gunicorn
from tests.support import make_config

TOKEN = "limits-auth-token"
TWENTY_MB = 20 * 1024 * 1024
CSRF_RE = re.compile(r'name="csrf[-_]token" (?:value|content)="([^"]+)"')


@pytest.fixture
def web(tmp_path: Path, sqlite_template: Path, redis_url: str) -> Iterator[str]:
    """The gateway under gunicorn (one worker, two threads) on a SQLite file with a world."""
    db_path = tmp_path / "web.db"
    shutil.copy(sqlite_template, db_path)
    port = free_port()
    config = make_config(
        f"sqlite:///{db_path}",
        redis_url,
        tmp_path,
        TWILIO_AUTH_TOKEN=TOKEN,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    app = create_app(config)
    with app.app_context():
        build_world(get_session())
    app.extensions["db_engine"].dispose()
    env = {key: str(value) for key, value in config.items() if key != "TESTING"}
    with gunicorn(env, tmp_path / "gunicorn.log", port=port) as url:
        yield url


def _open_post(url: str, path: str, headers: str, body: bytes) -> socket.socket:
    """Send a POST's head and the first part of its body; leave the connection open."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n".encode() + body)
    return sock


def _status_within(sock: socket.socket, seconds: float) -> int:
    """The status code the server answers with, read within `seconds`."""
    sock.settimeout(seconds)
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return int(head.split(b" ", 2)[1])


def _signed_text(url: str, body: str) -> requests.Response:
    params = {
        "MessageSid": "SM" + "4" * 32,
        "From": "+8613900000999",
        "To": "+8610690000",
        "Body": body,
    }
    signature = RequestValidator(TOKEN).compute_signature(url + "/sms", params)
    return requests.post(
        url + "/sms", data=params, headers={"X-Twilio-Signature": signature}, timeout=5
    )


def test_a_20_mb_text_gets_413_at_once_and_a_real_text_still_gets_its_answer(web: str) -> None:
    """Four unsigned 20 MB posts to /sms are refused before their bodies are read; a signed
    text sent while they hang on is answered at once."""
    head = (
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {TWENTY_MB}\r\nX-Twilio-Signature: forged\r\n"
    )
    started = time.monotonic()
    attackers = [_open_post(web, "/sms", head, b"Body=" + b"x" * 256 * 1024) for _ in range(4)]
    try:
        assert [_status_within(sock, 5) for sock in attackers] == [413] * 4
        assert time.monotonic() - started < 3
        sent = time.monotonic()
        answer = _signed_text(web, "你好")
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - sent < 3
        message = ET.fromstring(answer.content).find("Message")
        assert message is not None and message.text
    finally:
        for sock in attackers:
            sock.close()


def test_a_chunked_body_is_not_read_past_the_limit(web: str) -> None:
    """A webhook body without Content-Length is cut off at the limit with 413, not read on."""
    sock = _open_post(
        web,
        "/voice",
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
        "X-Twilio-Signature: forged\r\n",
        b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n" for _ in range(8)),  # 128 KB, no end
    )
    try:
        assert _status_within(sock, 5) == 413
    finally:
        sock.close()


@pytest.mark.parametrize("path", ["/status", "/voice/status", "/voice/menu/choose"])
def test_every_webhook_refuses_a_body_over_64_kb(web: str, path: str) -> None:
    """Status callbacks and voice steps take 64 KB at most, like /sms."""
    response = requests.post(web + path, data={"Body": "x" * 70 * 1024}, timeout=5)
    assert response.status_code == 413


def test_the_login_form_refuses_a_large_body_before_the_csrf_check(web: str) -> None:
    """A 1 MB login post gets 413 (not the CSRF page), with a message in Chinese."""
    response = requests.post(
        web + "/admin/login", data={"username": "x" * 1024 * 1024, "password": "x"}, timeout=5
    )
    assert response.status_code == 413
    assert "太大" in response.text


def _logged_in(web: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(web + "/admin/login", timeout=5).text
    token = CSRF_RE.search(page)
    assert token is not None
    response = browser.post(
        web + "/admin/login",
        data={"csrf_token": token.group(1), "username": "township", "password": PASSWORD},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302, response.text[:300]
    return browser


def test_an_upload_of_a_few_mb_works_and_other_admin_forms_stay_small(
    web: str, tmp_path: Path
) -> None:
    """A 3 MB lesson goes up on the lesson route; a 1 MB notice form is refused with 413."""
    browser = _logged_in(web)
    token = CSRF_RE.search(browser.get(web + "/admin/lessons", timeout=5).text)
    assert token is not None
    audio = tone_wav(seconds=200)  # 8 kHz, 16 bit: 3.2 MB
    assert len(audio) > 3 * 1024 * 1024
    uploaded = browser.post(
        web + "/admin/lessons",
        data={"csrf_token": token.group(1), "title": "三兆的课", "category": "policy"},
        files={"audio": ("lesson.wav", audio, "audio/wav")},
        allow_redirects=False,
        timeout=30,
    )
    assert uploaded.status_code == 302, uploaded.text[:500]
    app = create_app(
        make_config(f"sqlite:///{tmp_path / 'web.db'}", "redis://127.0.0.1:9/0", tmp_path / "check")
    )
    with app.app_context():
        lesson = get_session().scalar(select(Lesson).where(Lesson.title == "三兆的课"))
        assert lesson is not None and lesson.duration == 200
    app.extensions["db_engine"].dispose()
    notice = browser.post(
        web + "/admin/broadcasts",
        data={"csrf_token": token.group(1), "text": "通知" * 300_000},
        timeout=10,
    )
    assert notice.status_code == 413
