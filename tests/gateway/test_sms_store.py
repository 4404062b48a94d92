"""The /sms webhook keeps every text whatever goes wrong while handling it."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

import gateway.sms
import infra.db
from models import (
    Channel,
    Direction,
    Member,
    Message,
    MessageStatus,
    Report,
    ReportRevision,
    record_report,
    utcnow,
)
from models.sql import Sql
from models.templates import render
from sms_flows.effects import Context, Done
from sms_flows.keywords import Command
from tests.factories import make_member, make_tree
from tests.support import AUTH_TOKEN, PUBLIC_BASE_URL, TwilioClient


def sms(twilio: TwilioClient, sender: str, body: str, sid: str | None = None) -> Any:
    """Post an inbound SMS as Twilio does; return the response."""
    params = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": sender, "Body": body}
    return twilio.post("/sms", params)


def reply_text(response: Any) -> str:
    """The text of the single <Message> in a 200 TwiML reply."""
    assert response.status_code == 200, response.data
    messages = ET.fromstring(response.data).findall("Message")
    assert len(messages) == 1
    return messages[0].text or ""


def inbound(session: Session) -> list[Message]:
    """The stored inbound messages, read fresh."""
    session.expire_all()
    return list(session.scalars(select(Message).where(Message.direction == Direction.IN)))


@pytest.fixture
def member(session: Session) -> Member:
    """A member of a branch."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone="+8613800000001")
    session.commit()
    return created


def test_failed_handling_keeps_the_text_and_answers_with_the_menu(
    twilio: TwilioClient,
    session: Session,
    member: Member,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler that fails halfway: its writes are undone, the text is stored, the menu sent."""

    def half_done(ctx: Context, command: Command) -> Done:
        record_report(
            ctx.session, ctx.member(), period="2025-03", studied=True, channel=Channel.SMS
        )
        raise RuntimeError("a bug after the first write")

    monkeypatch.setattr(gateway.sms, "handle_sms", half_done)
    text = reply_text(sms(twilio, member.phone, "HB 1"))
    assert text == render("menu", "zh_CN")
    [stored] = inbound(session)
    assert stored.body == "HB 1" and stored.member_id == member.id
    assert stored.command == "error" and stored.handled is False
    assert stored.reply_body == text
    assert session.scalar(select(Report)) is None


def test_unique_conflict_on_the_first_try_is_handled_again(
    twilio: TwilioClient,
    session: Session,
    member: Member,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A unique key failing once (another request of the member wrote first) is retried."""
    real = gateway.sms.handle_sms
    calls: list[str] = []
    question = Sql(
        """INSERT INTO conversations (member_id, topic, step, data, expires_at, updated_at)
        VALUES (:member_id, 'report', 'studied', '{}', :at, :at)"""
    )

    def racing(ctx: Context, command: Command) -> Done:
        calls.append(command.kind.value)
        reply = real(ctx, command)
        if len(calls) == 1:  # a question the other request asked meanwhile: one per member
            params = {"member_id": ctx.sender.id, "at": ctx.raw.time(ctx.now)}
            ctx.raw.run(question, params)
            ctx.raw.run(question, params)
        return reply

    monkeypatch.setattr(gateway.sms, "handle_sms", racing)
    text = reply_text(sms(twilio, member.phone, "HB 1"))
    assert len(calls) == 2
    report = session.scalar(select(Report))
    assert report is not None and report.revision == 1 and report.studied is True
    assert report.receipt in text
    assert session.scalar(select(func.count()).select_from(ReportRevision)) == 1
    [stored] = inbound(session)
    assert stored.command == "report" and stored.handled is True


def test_concurrent_texts_of_one_member_make_one_report(
    app: Flask, session: Session, member: Member
) -> None:
    """Two reports of one member in the same month, at once: one report, two revisions."""
    validator = RequestValidator(AUTH_TOKEN)
    errors: list[BaseException] = []

    def post(body: str) -> None:
        try:
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": member.phone, "Body": body}
            signature = validator.compute_signature(PUBLIC_BASE_URL + "/sms", params)
            response = app.test_client().post(
                "/sms", data=params, headers={"X-Twilio-Signature": signature}
            )
            assert response.status_code == 200, response.data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(body,)) for body in ("HB 1", "HB 2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    session.expire_all()
    [report] = session.scalars(select(Report)).all()
    assert report.revision == 2
    assert session.scalar(select(func.count()).select_from(ReportRevision)) == 2
    assert len(inbound(session)) == 2


def test_same_sid_stored_meanwhile_gets_that_reply_and_nothing_new(
    app: Flask,
    twilio: TwilioClient,
    session: Session,
    member: Member,
    monkeypatch: pytest.MonkeyPatch,
    db_backend: str,
) -> None:
    """Twilio's retry stored by another worker meanwhile: its reply is given, ours undone."""
    sid = "SM" + "7" * 32
    stored: list[bool] = []

    def other_worker_stores() -> None:
        if stored:
            return
        stored.append(True)
        with app.extensions["db_engine"].begin() as other:
            other.execute(
                insert(Message),
                {
                    "direction": Direction.IN,
                    "member_id": member.id,
                    "phone": member.phone,
                    "body": "HB 1",
                    "provider_sid": sid,
                    "status": MessageStatus.RECEIVED,
                    "reply_body": "the other worker's reply",
                    "created_at": utcnow(),
                },
            )

    if db_backend == "sqlite":
        # SQLite: the webhook writes from its first read on, so another worker's row lands
        # while this request waits for its turn at the write gate.
        @contextlib.contextmanager
        def hold(timeout: float | None = None) -> Iterator[None]:
            other_worker_stores()
            with infra.db.write_gate().hold(timeout):
                yield

        monkeypatch.setattr(gateway.sms, "write_gate", lambda: SimpleNamespace(hold=hold))
    else:
        # PostgreSQL: it lands while this request handles the text; the INSERT then fails.
        real = gateway.sms.handle_sms

        def overtaken(ctx: Context, command: Command) -> Done:
            other_worker_stores()
            return real(ctx, command)

        monkeypatch.setattr(gateway.sms, "handle_sms", overtaken)
    assert reply_text(sms(twilio, member.phone, "HB 1", sid=sid)) == "the other worker's reply"
    assert stored == [True]
    assert [m.provider_sid for m in inbound(session)] == [sid]
    assert session.scalar(select(Report)) is None


@pytest.mark.parametrize(
    ("signed_url", "status"),
    [
        (PUBLIC_BASE_URL + "/sms", 200),
        (PUBLIC_BASE_URL + ":443/sms", 200),  # Twilio sometimes signs the default port
        (PUBLIC_BASE_URL + ":8443/sms", 403),
        (PUBLIC_BASE_URL + "/other", 403),
    ],
)
def test_signature_with_or_without_the_default_port(
    twilio: TwilioClient, session: Session, member: Member, signed_url: str, status: int
) -> None:
    """A signature over the public URL passes with or without its default port, nothing else."""
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": member.phone, "Body": "?"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_url, params)
    response = twilio.client.post("/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == status
    assert len(inbound(session)) == (1 if status == 200 else 0)


def test_database_locked_too_long_answers_503_and_keeps_nothing_half_done(
    twilio: TwilioClient,
    session: Session,
    member: Member,
    monkeypatch: pytest.MonkeyPatch,
    db_backend: str,
) -> None:
    """The driver's own error on the raw path (SQLite locked past its timeout) gives a 503."""
    error = sqlite3.OperationalError if db_backend == "sqlite" else psycopg.OperationalError

    def locked(*args: Any, **kwargs: Any) -> Any:
        raise error("database is locked")

    monkeypatch.setattr(gateway.sms, "find_sender", locked)
    response = sms(twilio, member.phone, "HB 1")
    assert response.status_code == 503
    assert inbound(session) == []  # Twilio tries its fallback URL; nothing half stored here
