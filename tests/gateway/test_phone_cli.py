"""`flask phone`: texting and calling a live app over HTTP as Twilio does, and the outbox."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.providers.twilio import SignatureCheck, TwilioProvider
from ivr_flows.prompts import text
from models import (
    Channel,
    Member,
    Message,
    Recording,
    RecordingKind,
    Report,
    period_of,
    utcnow,
)
from models.call import CallbackRequest
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI, sms
from tests.live_server import serve

PHONE = "+8613800000001"


def zh(key: str, **params: object) -> str:
    """A prompt's Chinese text."""
    return text(key, "zh_CN", **params)


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The test app on a real port; PUBLIC_BASE_URL stays the public one the CLI signs for."""
    with serve(app) as url:
        yield url


@pytest.fixture
def member(session: Session) -> Member:
    """A registered member in Guangzhou."""
    _, branch, _ = make_tree(session)
    found = make_member(session, branch, phone=PHONE, name="王芳")
    session.commit()
    return found


def fresh(session: Session) -> Session:
    """The test's session seeing what the live server committed."""
    session.rollback()
    session.expire_all()
    return session


def test_four_presses_make_an_ivr_report_that_the_export_shows(
    runner: FlaskCliRunner, session: Session, member: Member, live_url: str
) -> None:
    """The Done-when: `phone call N --press 1 x4` ends in a report exported with channel ivr."""
    result = runner.invoke(args=["phone", "call", PHONE, *("--press", "1") * 4, "--url", live_url])
    assert result.exit_code == 0, result.output
    output = result.output
    assert f"say: {zh('greeting', name='王芳')}" in output
    assert f"say: {zh('ask_studied')}" in output
    assert f"say: {zh('ask_thought_report')}" in output
    assert output.count("press 1") == 4
    assert "> POST /voice/report/same_employer" in output
    assert output.rstrip().endswith("(hangs up)")
    report = fresh(session).scalars(select(Report)).one()
    assert (report.member_id, report.channel) == (member.id, Channel.IVR)
    assert (report.studied, report.same_city, report.same_employer) == (True, True, True)

    period = period_of(utcnow())
    export = runner.invoke(args=["reports", "export", "--period", period])
    assert export.exit_code == 0, export.output
    rows = list(csv.DictReader(io.StringIO(export.output)))
    mine = [row for row in rows if row["phone"] == PHONE]
    assert len(mine) == 1
    assert (mine[0]["channel"], mine[0]["reported"], mine[0]["studied"]) == ("ivr", "yes", "yes")
    assert mine[0]["receipt"] == report.receipt


def test_record_sends_a_sandbox_recording_at_the_tone(
    runner: FlaskCliRunner, session: Session, member: Member, live_url: str, app: Flask
) -> None:
    """--record answers <Record> with a RecordingUrl the sandbox serves, an RE sid and a length."""
    result = runner.invoke(
        args=["phone", "call", PHONE, *("--press", "1") * 5, "--record", "--url", live_url]
    )
    assert result.exit_code == 0, result.output
    assert "(beep: recording, up to 120 s)" in result.output
    assert (
        f"say: {zh('report_done', receipt=' '.join(fresh(session).scalars(select(Report.receipt)).one()))}"
        in result.output
    )
    recording = session.scalars(select(Recording)).one()
    assert recording.kind is RecordingKind.THOUGHT_REPORT
    assert recording.recording_sid is not None
    assert re.fullmatch(r"RE[0-9a-f]{32}", recording.recording_sid)
    assert (
        recording.url
        == f"{app.config['SANDBOX_URL']}/_sandbox/recordings/{recording.recording_sid}.wav"
    )
    assert recording.duration == 5


def test_silence_follows_the_redirect_and_hears_the_reason(
    runner: FlaskCliRunner, member: Member, live_url: str
) -> None:
    """An empty --press waits: the Redirect after the Gather brings the menu again with why."""
    result = runner.invoke(args=["phone", "call", PHONE, "--press", "", "--url", live_url])
    assert result.exit_code == 0, result.output
    assert "(waits without pressing)" in result.output
    assert f"say: {zh('no_input')}" in result.output
    assert result.output.count("> POST /voice/menu/choose") == 1


def test_an_unregistered_caller_is_walked_to_the_goodbye(
    runner: FlaskCliRunner, session: Session, live_url: str
) -> None:
    """A stranger says nothing at three tones: the intro, asked twice again, then goodbye."""
    result = runner.invoke(args=["phone", "call", "13999999999", "--url", live_url])
    assert result.exit_code == 0, result.output
    assert f"say: {zh('unknown_intro')}" in result.output
    assert result.output.count("(says nothing)") == 3
    assert f"say: {zh('goodbye_retry')}" in result.output
    assert "<hangup>" in result.output


def test_missed_rings_the_callback_line(
    runner: FlaskCliRunner, session: Session, member: Member, live_url: str
) -> None:
    """--missed: the call is rejected busy and a callback is queued for the member."""
    result = runner.invoke(args=["phone", "call", PHONE, "--missed", "--url", live_url])
    assert result.exit_code == 0, result.output
    assert "<reject> (busy)" in result.output
    callback = fresh(session).scalars(select(CallbackRequest)).one()
    assert callback.member_id == member.id


def test_sms_posts_a_signed_twilio_message_and_prints_the_reply(
    runner: FlaskCliRunner, session: Session, member: Member, live_url: str
) -> None:
    """`phone sms` is accepted by the signed /sms webhook; it prints the reply stored for it."""
    result = runner.invoke(args=["phone", "sms", "13800000001", "帮助", "--url", live_url])
    assert result.exit_code == 0, result.output
    inbound = fresh(session).scalars(select(Message).where(Message.provider_sid.is_not(None))).one()
    assert inbound.provider_sid is not None
    assert re.fullmatch(r"SM[0-9a-f]{32}", inbound.provider_sid)
    assert (inbound.phone, inbound.body, inbound.member_id) == (PHONE, "帮助", member.id)
    assert inbound.reply_body
    assert result.output.strip() == inbound.reply_body


def test_a_server_that_refuses_the_signature_fails_the_command(
    runner: FlaskCliRunner, app: Flask, member: Member, live_url: str
) -> None:
    """A server holding another auth token refuses the signature (403); the command says so."""
    app.extensions["twilio_signature"] = SignatureCheck("another-token")
    result = runner.invoke(args=["phone", "call", PHONE, "--press", "1", "--url", live_url])
    assert result.exit_code == 1
    assert "/voice answered HTTP 403" in result.output


def test_outbox_lists_what_the_sandbox_was_asked_to_send(
    runner: FlaskCliRunner, app: Flask, sandbox_api: SandboxAPI, sandbox_provider: TwilioProvider
) -> None:
    """`phone outbox --to N` reads the sandbox: plain lines, or JSON objects with --json."""
    app.config["SANDBOX_URL"] = sandbox_api.url
    sandbox_provider.send_sms(sms(PHONE, "本月汇报请回复HB 1"))
    sandbox_provider.send_sms(sms("+8613800000002", "别人的短信"))
    plain = runner.invoke(args=["phone", "outbox", "--to", "13800000001"])
    assert plain.exit_code == 0, plain.output
    assert "本月汇报请回复HB 1" in plain.output
    assert "别人的短信" not in plain.output
    as_json = runner.invoke(args=["phone", "outbox", "--to", PHONE, "--json"])
    assert as_json.exit_code == 0, as_json.output
    messages = json.loads(as_json.output)
    assert len(messages) == 1
    assert {"to", "body", "status", "sid", "created_at"} <= set(messages[0])
    assert (messages[0]["to"], messages[0]["body"]) == (PHONE, "本月汇报请回复HB 1")
    assert messages[0]["sid"].startswith("SM")
    everything = json.loads(runner.invoke(args=["phone", "outbox", "--json"]).output)
    assert len(everything) == 2
