"""A lesson that resumes, end to end: hang up part way, call again, press 1, hear the rest
from that second; the listening time is the sum of both parts."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Lesson, LessonCategory, LessonListen, Member
from models.clock import set_clock_file
from tests.factories import make_member, make_tree
from tests.gateway.test_voice import PHONE, Phone, action, fresh, said, zh
from tests.support import TwilioClient

START = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The app on a clock file the test moves, so the seconds heard are known."""
    app_config["CLOCK_FILE"] = str(tmp_path / "clock")
    return app_config


def at(app_config: dict[str, Any], seconds: float) -> None:
    """Move the shared clock to START + seconds (a half second more than a whole number of
    seconds after a step: the real time a request takes never changes the seconds counted)."""
    set_clock_file(app_config["CLOCK_FILE"], START + timedelta(seconds=seconds))


@pytest.fixture
def lesson(session: Session, app_config: dict[str, Any]) -> Lesson:
    """A member, and a 300-second audio lesson of the township stored as a WAV file."""
    township, branch, _ = make_tree(session)
    make_member(session, branch, phone=PHONE, name="张伟")
    folder = Path(app_config["UPLOAD_DIR"]) / "lessons"
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(folder / "contract.wav"), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(1)
        audio.setframerate(100)
        audio.writeframes(bytes(range(256)) * 117 + bytes(48))  # 300 s at 100 frames/s
    found = Lesson(
        org_id=township.id,
        title="劳动合同法要点",
        category=LessonCategory.POLICY,
        audio_path="lessons/contract.wav",
        duration=300,
    )
    session.add(found)
    session.commit()
    return found


def test_hang_up_then_press_1_continues_and_the_parts_add_up(
    twilio: TwilioClient,
    client: FlaskClient,
    session: Session,
    lesson: Lesson,
    app_config: dict[str, Any],
) -> None:
    """First call: the lesson from the start, hung up after 120 s. Next call: asked to
    continue, 1 plays it from second 120, finished with 1 at second 300: two listens, 120 and
    180 seconds, 300 in all, the lesson completed."""
    at(app_config, 0)
    first = Phone(twilio)
    first.post("/voice")
    first.press("/voice/menu/choose", "2")
    first.press("/voice/lessons/category", "9")
    first.press("/voice/lessons/number", str(lesson.id))
    at(app_config, 120.5)
    first.status("completed", duration=130)
    at(app_config, 3600)
    second = Phone(twilio)
    offer = second.post("/voice")
    assert said(offer)[-1] == zh("lesson_resume", title="劳动合同法要点")
    assert action(offer) == "/voice/lessons/resume"
    playing = second.press("/voice/lessons/resume", "1")
    [url] = [node.text or "" for node in playing.iter("Play")]
    assert url.endswith("/media/lessons/contract.wav?from=120")
    at(app_config, 3600 + 180.5)
    second.press("/voice/lessons/played", "1")
    listens = fresh(session).scalars(select(LessonListen).order_by(LessonListen.id)).all()
    assert [(x.seconds, x.position, x.completed) for x in listens] == [
        (120, 120, False),
        (180, 300, True),
    ]
    total = session.scalar(select(func.sum(LessonListen.seconds)))
    assert total == 300
    # Finished: the next call goes straight to the menu.
    at(app_config, 7200)
    assert action(Phone(twilio).post("/voice")) == "/voice/menu/choose"
    # The audio Twilio fetches starts at second 120: 180 s are left.
    cut = client.get("/media/lessons/contract.wav?from=120")
    with wave.open(io.BytesIO(cut.get_data()), "rb") as audio:
        assert audio.getnframes() == 180 * 100


def test_another_key_goes_to_the_menu_and_the_offer_stands(
    twilio: TwilioClient, session: Session, lesson: Lesson, app_config: dict[str, Any]
) -> None:
    """2 at the offer: the main menu; the lesson is offered again on the next call."""
    at(app_config, 0)
    first = Phone(twilio)
    first.post("/voice")
    first.press("/voice/menu/choose", "2")
    first.press("/voice/lessons/category", "9")
    first.press("/voice/lessons/number", str(lesson.id))
    at(app_config, 60.5)
    first.status("completed", duration=70)
    second = Phone(twilio)
    second.post("/voice")
    menu = second.press("/voice/lessons/resume", "2")
    assert action(menu) == "/voice/menu/choose"
    assert action(Phone(twilio).post("/voice")) == "/voice/lessons/resume"
    member = fresh(session).scalars(select(Member)).one()
    assert member.name == "张伟"


@pytest.mark.parametrize("start", ["abc", "-5", "99999999999999999999", ""])
def test_a_bad_from_serves_the_whole_file(client: FlaskClient, lesson: Lesson, start: str) -> None:
    """Not a positive second: the file as it is, never an error."""
    response = client.get(f"/media/lessons/contract.wav?from={start}")
    assert response.status_code == 200
    with wave.open(io.BytesIO(response.get_data()), "rb") as audio:
        assert audio.getnframes() == 300 * 100
