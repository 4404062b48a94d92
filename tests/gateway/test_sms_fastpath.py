"""The /sms fast path: string-built TwiML, sender lookup, no cookie, and replays undone."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from gateway.twiml import message_twiml
from models import (
    Direction,
    Member,
    MemberChange,
    Message,
    Report,
    ReportRevision,
)
from models.templates import render
from tests.factories import make_member, make_tree
from tests.support import TwilioClient

PHONE = "+8613800000001"


def sms(twilio: TwilioClient, sender: str, body: str, sid: str | None = None) -> Any:
    """Post an inbound SMS as Twilio does; return the response."""
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+8610690000",
        "Body": body,
        "NumMedia": "0",
    }
    return twilio.post("/sms", params)


def reply_text(response: Any) -> str:
    """The text of the single <Message> in a 200 TwiML reply."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    messages = ET.fromstring(response.data).findall("Message")
    assert len(messages) == 1
    return messages[0].text or ""


def inbound(session: Session) -> list[Message]:
    """The stored inbound messages, read fresh."""
    session.expire_all()
    return list(session.scalars(select(Message).where(Message.direction == Direction.IN)))


def count(session: Session, model: type) -> int:
    """Rows in a table, read fresh."""
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def member(session: Session) -> Member:
    """A member in Guangzhou, registered with an E.164 phone."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone=PHONE)
    session.commit()
    return created


# --- TwiML ------------------------------------------------------------------------------------


def messaging_response(text: str | None) -> str:
    """What twilio's own builder writes for a reply of this text (none for None)."""
    response = MessagingResponse()
    if text is not None:
        response.message(text)
    return str(response.to_xml())


@pytest.mark.parametrize(
    "text",
    [
        "汇报成功,回执号 ABC234",
        "Tom & Jerry",
        "<b>bold</b> and 1 < 2 > 0",
        "He said \"yes\" and 'no'",
        "]]> <![CDATA[",
        "&amp; already escaped",
        "👍 谢谢 🇨🇳",
        "line one\nline two\ttabbed",
        "  padded  ",
    ],
)
def test_message_twiml_is_what_messaging_response_writes(text: str) -> None:
    """The reply is twilio's MessagingResponse document, served as text/xml, text kept whole."""
    response = message_twiml(text)
    assert response.get_data(as_text=True) == messaging_response(text)
    assert response.get_data() == messaging_response(text).encode("utf-8")
    assert response.mimetype == "text/xml"
    assert response.status_code == 200
    [message] = ET.fromstring(response.get_data()).findall("Message")
    assert message.text == text


@pytest.mark.parametrize("text", [None, ""])
def test_no_text_is_an_empty_response(text: str | None) -> None:
    """No reply text gives an empty <Response/>, as an empty MessagingResponse writes it."""
    response = message_twiml(text)
    assert response.get_data(as_text=True) == messaging_response(None)
    assert response.mimetype == "text/xml"
    assert ET.fromstring(response.get_data()).findall("Message") == []


def test_webhook_reply_is_xml_of_the_stored_reply(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The webhook answers text/xml holding exactly the reply stored with the text."""
    response = sms(twilio, PHONE, "HB 1")
    text = reply_text(response)
    assert response.get_data(as_text=True) == messaging_response(text)
    [stored] = inbound(session)
    assert stored.reply_body == text


# --- the sender -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender", ["13800000001", "+86 138 0000 0001", "0086 138-0000-0001", "+86 13800000001"]
)
def test_member_found_from_a_number_not_in_e164(
    twilio: TwilioClient, session: Session, member: Member, sender: str
) -> None:
    """A From not in E.164 is normalized and still finds the member: a report, not 'unmatched'."""
    text = reply_text(sms(twilio, sender, "HB 1"))
    assert text != render("unmatched", "zh_CN")
    report = session.scalar(select(Report).where(Report.member_id == member.id))
    assert report is not None and report.receipt in text
    [stored] = inbound(session)
    assert stored.member_id == member.id and stored.phone == PHONE
    assert stored.command == "report" and stored.handled is True


def test_unknown_number_is_unmatched_and_kept_normalized(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A number no member has gets the unmatched reply; its text is kept under its E.164 form."""
    text = reply_text(sms(twilio, "139 0000 0002", "HB 1"))
    assert text == render("unmatched", "zh_CN")
    [stored] = inbound(session)
    assert stored.member_id is None and stored.phone == "+8613900000002"
    assert count(session, Report) == 0


# --- cookies ----------------------------------------------------------------------------------


def test_webhook_sets_no_cookie(twilio: TwilioClient, member: Member) -> None:
    """Answers on /sms, matched, unmatched, refused or malformed, carry no Set-Cookie."""
    responses = [
        sms(twilio, PHONE, "HB 1"),
        sms(twilio, "+8613900000002", "你好"),
        twilio.post(
            "/sms", {"MessageSid": "SM" + "2" * 32, "From": PHONE, "Body": "?"}, sign=False
        ),
        twilio.post("/sms", {"Body": "no sid, no sender"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 403, 400]
    for response in responses:
        assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("path", "opened"),
    [("/sms", False), ("/status", False), ("/voice", False), ("/admin/login", True)],
)
def test_session_is_opened_only_off_the_webhooks(app: Flask, path: str, opened: bool) -> None:
    """No cookie session is opened for Twilio's webhooks; the admin pages still get one."""
    with app.test_request_context(path, method="POST"):
        assert (app.session_interface.open_session(app, request) is not None) is opened


def test_admin_login_keeps_its_cookie_and_webhook_ignores_it(
    client: FlaskClient, twilio: TwilioClient, member: Member
) -> None:
    """The admin login page still sets the session cookie; /sms sent that cookie sets none."""
    login = client.get("/admin/login")
    assert login.status_code == 200
    assert any(c.startswith("session=") for c in login.headers.getlist("Set-Cookie"))
    assert client.get_cookie("session") is not None
    response = sms(twilio, PHONE, "HB 1")  # the same client: the cookie goes with it
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert client.get("/admin/login").status_code == 200


# --- replays ----------------------------------------------------------------------------------


def test_replayed_message_sid_gets_the_same_answer_and_is_undone(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A replayed MessageSid: the same bytes back, one message, the report still revision 1."""
    sid = "SM" + "4" * 32
    first = sms(twilio, PHONE, "HB 2 东莞 鞋厂", sid=sid)
    second = sms(twilio, PHONE, "HB 2 东莞 鞋厂", sid=sid)
    assert reply_text(first)
    assert second.status_code == 200 and second.get_data() == first.get_data()
    assert second.mimetype == "text/xml"
    assert [m.provider_sid for m in inbound(session)] == [sid]
    [report] = session.scalars(select(Report)).all()
    assert report.revision == 1
    assert count(session, ReportRevision) == 1
    assert count(session, MemberChange) == 2  # city and employer, once


def test_replay_from_another_form_of_the_number_is_undone_too(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A replay whose From is written differently is still recognised by its MessageSid."""
    sid = "SM" + "5" * 32
    first = reply_text(sms(twilio, PHONE, "HB 1", sid=sid))
    second = reply_text(sms(twilio, "13800000001", "HB 1", sid=sid))
    assert second == first
    assert len(inbound(session)) == 1
    report = session.scalar(select(Report))
    assert report is not None and report.revision == 1
