"""The phone simulator: texts and calls reach the app's own webhooks, signed like Twilio's."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import Call, Member, Message, Recording, Report
from tests.admin_ui.world import World, db, login_as


def _phone_of(app: Flask, member_id: int) -> str:
    with db(app) as session:
        member = session.get(Member, member_id)
        assert member is not None
        return member.phone


def test_a_text_from_the_simulator_is_answered_by_sms(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A report texted from the simulated phone is stored and its reply shown on the screen."""
    phone = _phone_of(app, world.bob)
    admin = login_as(client, "branch")
    response = admin.post("/admin/phone/text", {"phone": phone, "body": "HB 1"})
    assert response.status_code == 302
    screen = admin.get("/admin/phone").get_data(as_text=True)
    assert "&gt; HB 1" in screen
    with db(app) as session:
        inbound = session.scalar(
            select(Message).where(Message.phone == phone, Message.body == "HB 1")
        )
        reported = session.scalar(select(Report).where(Report.member_id == world.bob))
    assert inbound is not None and inbound.reply_body
    assert reported is not None and reported.studied is True
    assert inbound.reply_body in screen


def test_a_call_from_the_simulator_walks_the_voice_menu(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Dialling plays the greeting and waits for keys; hanging up ends the call."""
    phone = _phone_of(app, world.bob)
    admin = login_as(client, "branch")
    admin.post("/admin/phone/call", {"action": "dial", "phone": phone})
    waiting = admin.get("/admin/phone").get_data(as_text=True)
    assert "🔊" in waiting
    assert 'name="key" value="1"' in waiting  # the keypad shows while the menu waits
    admin.post("/admin/phone/call", {"action": "hangup"})
    after = admin.get("/admin/phone").get_data(as_text=True)
    assert 'name="key" value="1"' not in after
    with db(app) as session:
        call = session.scalar(select(Call).where(Call.phone == phone))
    assert call is not None


def test_keys_pressed_on_the_simulator_make_a_phone_report(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """1 report, 1 studied, 1 same city, 1 same employer, 1 and a spoken thought report."""
    phone = _phone_of(app, world.bob)
    admin = login_as(client, "branch")
    admin.post("/admin/phone/call", {"action": "dial", "phone": phone})
    for _ in range(5):
        admin.post("/admin/phone/call", {"action": "press", "key": "1"})
    waiting = admin.get("/admin/phone").get_data(as_text=True)
    assert 'name="action" value="record"' in waiting
    admin.post("/admin/phone/call", {"action": "record"})
    screen = admin.get("/admin/phone").get_data(as_text=True)
    assert screen.count("[1]") == 5
    with db(app) as session:
        report = session.scalar(select(Report).where(Report.member_id == world.bob))
        recording = session.scalar(select(Recording).where(Recording.member_id == world.bob))
    assert report is not None
    assert report.channel.value == "ivr" and report.studied is True
    assert recording is not None and "/_sandbox/recordings/RE" in recording.url
