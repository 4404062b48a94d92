"""The admin tests' world: a township, branches, members and logins, and a client logged in
as one of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from infra.db import get_session
from models import (
    Broadcast,
    Call,
    CallDirection,
    CallStatus,
    Channel,
    ContactKind,
    ContactLog,
    Direction,
    HelpCategory,
    Lesson,
    LessonCategory,
    Message,
    MessageStatus,
    OrgKind,
    Recording,
    RecordingKind,
    Role,
    open_help_request,
    record_report,
)
from models.period import period_of, shift_period
from tests.factories import make_member, make_org, make_tree, make_user

PASSWORD = "password123"


TOKEN_RE = re.compile(r'name="csrf[-_]token" (?:value|content)="([^"]+)"')


@dataclass
class World:
    """Ids of the rows every admin test can rely on."""

    township: int
    east: int  # branch with the branch user, the liaison and most members
    west: int
    host: int
    other_township: int
    users: dict[str, int]
    alice: int  # east, liaison's, attached to the host, reported this month
    bob: int  # east, missed last month
    carol: int  # west
    dave: int  # other township: nobody here may see him
    help_id: int
    recording_id: int
    lesson_id: int
    broadcast_id: int
    unmatched_phone: str
    period: str


def build_world(session: Session) -> World:
    """A township with two branches and a host; one user per role; a few members."""
    township, east, west = make_tree(session)
    host = make_org(session, "广州白云区流动党支部", OrgKind.HOST, city="广州")
    other = make_org(session, "远山镇", OrgKind.TOWNSHIP)
    other_branch = make_org(session, "远山村党支部", OrgKind.BRANCH, other)
    users = {
        "township": make_user(session, township, Role.TOWNSHIP, "township").id,
        "branch": make_user(session, east, Role.BRANCH, "branch").id,
        "liaison": make_user(session, east, Role.LIAISON, "liaison").id,
        "host": make_user(session, host, Role.HOST, "host").id,
        "west": make_user(session, west, Role.BRANCH, "west").id,
        "other": make_user(session, other, Role.TOWNSHIP, "other").id,
    }
    long_ago = datetime.now(UTC) - timedelta(days=800)
    alice = make_member(
        session,
        east,
        name="王秀英",
        liaison_id=users["liaison"],
        host_org_id=host.id,
        created_at=long_ago,
    )
    bob = make_member(session, east, name="李建国", created_at=long_ago)
    carol = make_member(session, west, name="张桂兰", created_at=long_ago)
    dave = make_member(session, other_branch, name="赵德明", created_at=long_ago)
    now = datetime.now(UTC)
    period = period_of(now)
    record_report(session, alice, period=period, studied=True, channel=Channel.SMS, at=now)
    record_report(
        session, alice, period=shift_period(period, -1), studied=False, channel=Channel.IVR
    )
    request = open_help_request(
        session, alice, category=HelpCategory.WAGES, text="工资拖欠三个月", channel=Channel.SMS
    )
    call = Call(
        direction=CallDirection.INBOUND,
        member_id=alice.id,
        phone=alice.phone,
        status=CallStatus.COMPLETED,
    )
    session.add(call)
    session.flush()
    recording = Recording(
        call_id=call.id,
        member_id=alice.id,
        phone=alice.phone,
        kind=RecordingKind.THOUGHT_REPORT,
        url="recordings/thought.wav",
        duration=1,
    )
    session.add(recording)
    session.add_all(
        [
            Message(
                direction=Direction.IN,
                member_id=bob.id,
                phone=bob.phone,
                body="我换工作了",
                status=MessageStatus.RECEIVED,
            ),
            Message(
                direction=Direction.IN,
                member_id=None,
                phone="+8613900000099",
                body="我是东村的王五",
                status=MessageStatus.RECEIVED,
            ),
            ContactLog(
                member_id=alice.id,
                user_id=users["host"],
                kind=ContactKind.HOST_FEEDBACK,
                period=period,
                contact_date=date.today(),
                note="表现很好",
            ),
        ]
    )
    lesson = Lesson(
        org_id=township.id,
        title="新农保政策解读",
        category=LessonCategory.POLICY,
        audio_path="lessons/policy.wav",
        transcript="今天讲新农保。",
    )
    broadcast = Broadcast(
        org_id=east.id, author_id=users["branch"], text="五月十日开会", recipients=2
    )
    session.add_all([lesson, broadcast])
    session.flush()
    session.commit()
    return World(
        township=township.id,
        east=east.id,
        west=west.id,
        host=host.id,
        other_township=other.id,
        users=users,
        alice=alice.id,
        bob=bob.id,
        carol=carol.id,
        dave=dave.id,
        help_id=request.id,
        recording_id=recording.id,
        lesson_id=lesson.id,
        broadcast_id=broadcast.id,
        unmatched_phone="+8613900000099",
        period=period,
    )


def tone_wav(seconds: float = 1.0) -> bytes:
    """A short 440 Hz tone as WAV: audio a browser can really play."""
    import io
    import math
    import wave

    rate = 8000
    frames = b"".join(
        int(3000 * math.sin(2 * math.pi * 440 * i / rate)).to_bytes(2, "little", signed=True)
        for i in range(int(rate * seconds))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


@contextmanager
def db(app: Flask) -> Iterator[Session]:
    """A database session for checking rows, in a context popped before the next request."""
    with app.app_context():
        yield get_session()


class AdminClient:
    """A test client that logs in through the form and sends the CSRF token with every post."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """GET a page, remembering the CSRF token it carries."""
        response = self.client.get(path, **kwargs)
        self._remember(response)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        """POST a form with the session's CSRF token."""
        if not self.token:
            self.get("/admin/login")
        payload = {"csrf_token": self.token, **(data or {})}
        response = self.client.post(path, data=payload, **kwargs)
        self._remember(response)
        return response

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        """Log in through the form; the session (and its CSRF token) is new afterwards."""
        self.get("/admin/login")
        response = self.post("/admin/login", {"username": username, "password": password})
        if response.status_code == 302:
            self.get("/admin/login")  # any page carries the new session's token
        return response

    def _remember(self, response: TestResponse) -> None:
        if response.mimetype == "text/html":
            found = TOKEN_RE.search(response.get_data(as_text=True))
            if found:
                self.token = found.group(1)


def login_as(client: FlaskClient, username: str) -> AdminClient:
    """A client logged in as one of the world's users."""
    admin_client = AdminClient(client)
    response = admin_client.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return admin_client


def admin_pages(world: World) -> list[str]:
    """One of each kind of admin page a township user opens (scripts, bars and charts too)."""
    return [
        "/admin/",
        "/admin/members",
        f"/admin/members/{world.alice}",
        f"/admin/members/{world.alice}/edit",
        "/admin/reports",
        "/admin/nonreporters",
        "/admin/nonreporters/roster",
        "/admin/inbox",
        "/admin/inbox?tab=recordings",
        "/admin/inbox?tab=unmatched",
        "/admin/inbox?tab=replies",
        "/admin/help",
        f"/admin/help/{world.help_id}",
        "/admin/tasks",
        "/admin/tasks?show=done",
        "/admin/broadcasts",
        "/admin/broadcasts/new",
        "/admin/surveys",
        "/admin/surveys/new?start=ready",
        f"/admin/broadcasts/{world.broadcast_id}",
        "/admin/lessons",
        "/admin/review",
        "/admin/review/branches",
        "/admin/activities",
        "/admin/activities?tab=tips",
        "/admin/inbox?tab=deeds",
        "/admin/register",
        "/admin/settings",
        "/admin/audit",
        "/admin/phone",
        "/admin/password",
    ]
