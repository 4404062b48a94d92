"""The provider seam: the outbox and the call placer speak only the domain's words.

A provider that is not Twilio (scripted here, as a template provider would behave: its own
error codes, which are words) is plugged into the app. What it is handed, and what the domain
does with its answers, must not depend on Twilio in any way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra.providers import (
    Failure,
    OutboundCall,
    OutboundSms,
    ProviderError,
    RecordingAudio,
    SentMessage,
)
from models import CallStatus, Member, Message, MessageStatus, utcnow
from models.caps import HoldReason, provider_day
from models.cycle import REMINDER_CALL
from models.lesson import LessonPlayback
from models.outbox import queue_sms
from models.voice import queue_outbound_call
from tests.factories import make_member
from workers import sending
from workers.calls import place_call
from workers.reconcile import reconcile_stuck

PROJECT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("gateway", "ivr_flows", "workers", "models", "admin_ui", "sms_flows", "infra")
TWILIO_PROVIDER = PROJECT / "infra" / "providers" / "twilio.py"
# The Twilio webhooks' edge (TwiML answers, its signature check) may use the twilio library's
# TwiML builders; only the provider module may use its REST client, errors and validator.
TWILIO_INTERNALS = ("twilio.rest", "twilio.base", "twilio.http", "twilio.request_validator")


@dataclass
class ScriptedProvider:
    """A provider with its own codes: answers from a script, remembers what it was handed."""

    refusals: dict[str, ProviderError] = field(default_factory=dict)
    sent: list[OutboundSms] = field(default_factory=list)
    calls: list[OutboundCall] = field(default_factory=list)
    listed: list[SentMessage] = field(default_factory=list)
    lookup_lag: timedelta = timedelta(0)
    lesson_playback: LessonPlayback = LessonPlayback.ANY

    def send_sms(self, sms: OutboundSms) -> SentMessage:
        if sms.to in self.refusals:
            raise self.refusals[sms.to]
        self.sent.append(sms)
        return SentMessage(
            sid=f"cn-{sms.message_id}",
            to=sms.to,
            body=sms.body,
            delivery=MessageStatus.SENT,
            date_created=utcnow(),
        )

    def place_call(self, call: OutboundCall) -> str:
        if call.to in self.refusals:
            raise self.refusals[call.to]
        self.calls.append(call)
        return f"call-{call.call_id}"

    def list_messages(self, to: str, sent_after: datetime) -> list[SentMessage]:
        return [m for m in self.listed if m.to == to]

    def recording_url_allowed(self, url: str) -> bool:
        return False

    def fetch_recording(self, url: str) -> RecordingAudio:
        raise ProviderError("no recordings here")


@pytest.fixture
def scripted(app: Flask) -> Iterator[ScriptedProvider]:
    provider = ScriptedProvider()
    previous = app.extensions.get("provider")
    app.extensions["provider"] = provider
    yield provider
    app.extensions["provider"] = previous


def _queued(session: Session, member: Member) -> Message:
    message = queue_sms(
        session, template_key="broadcast", params={"text": "开会通知"}, member=member
    )
    session.commit()
    return message


def test_a_send_hands_over_the_template_its_params_the_body_and_our_row_id(
    session: Session, scripted: ScriptedProvider
) -> None:
    """What a template provider needs is in the request; the row takes the provider's sid."""
    member = make_member(session)
    message = _queued(session, member)

    assert sending.send_message(message.id) == "sent"

    [handed] = scripted.sent
    assert handed == OutboundSms(
        message_id=message.id,
        to=member.phone,
        body=message.body,
        template="broadcast",
        params={"text": "开会通知"},
    )
    session.expire_all()
    row = session.get(Message, message.id)
    assert row is not None and (row.status, row.provider_sid) == (
        MessageStatus.SENT,
        f"cn-{row.id}",
    )


@pytest.mark.parametrize(
    ("failure", "opted_out", "invalid"),
    [
        (Failure.OPTED_OUT, True, False),
        (Failure.INVALID_NUMBER, False, True),
        (Failure.UNREACHABLE, False, False),
        (Failure.REFUSED, False, False),
    ],
)
def test_a_refusal_in_the_providers_own_code_acts_by_its_failure(
    session: Session, scripted: ScriptedProvider, failure: Failure, opted_out: bool, invalid: bool
) -> None:
    """The row fails with the provider's code kept as text; the member is marked by the kind."""
    member = make_member(session)
    scripted.refusals[member.phone] = ProviderError(
        "refused", code="isv.MOBILE_NUMBER_ILLEGAL", failure=failure
    )
    message = _queued(session, member)

    assert sending.send_message(message.id) == "failed"

    session.expire_all()
    row = session.get(Message, message.id)
    assert row is not None
    assert (row.status, row.error_code) == (MessageStatus.FAILED, "isv.MOBILE_NUMBER_ILLEGAL")
    fresh = session.get(Member, member.id)
    assert fresh is not None
    assert (fresh.opted_out_at is not None, fresh.phone_invalid_at is not None) == (
        opted_out,
        invalid,
    )


def test_a_refusal_over_the_providers_cap_waits_for_the_next_day(
    session: Session, scripted: ScriptedProvider
) -> None:
    """The provider counted texts we did not (sent some other way): the row goes back to the
    queue, its attempt not counted, held for the member's window the next day."""
    member = make_member(session)
    scripted.refusals[member.phone] = ProviderError(
        "over the cap", code="LimitExceeded.PhoneNumberDailyLimit", failure=Failure.OVER_CAP
    )
    message = _queued(session, member)

    assert sending.send_message(message.id) == "held"

    session.expire_all()
    row = session.get(Message, message.id)
    assert row is not None
    assert (row.status, row.attempts, row.hold_reason, row.error_code) == (
        MessageStatus.QUEUED,
        0,
        HoldReason.DAILY_CAP,
        None,
    )
    _, tomorrow = provider_day(utcnow())
    assert row.next_attempt_at is not None
    assert tomorrow <= row.next_attempt_at < tomorrow + timedelta(days=1)


def test_a_call_is_placed_by_our_row_id_and_a_refusal_fails_it(
    session: Session, scripted: ScriptedProvider
) -> None:
    """The provider gets our Call id, the number and what the call is for; its refusal ends
    the row."""
    reachable, invalid = make_member(session), make_member(session)
    scripted.refusals[invalid.phone] = ProviderError(
        "refused",
        code="InvalidParameterValue.CalledNumberVerifyFail",
        failure=Failure.INVALID_NUMBER,
    )
    calls = [
        queue_outbound_call(session, member, purpose=REMINDER_CALL, at=utcnow())
        for member in (reachable, invalid)
    ]
    session.commit()

    assert [place_call(call.id) for call in calls] == ["placed", "failed"]

    assert scripted.calls == [
        OutboundCall(call_id=calls[0].id, to=reachable.phone, purpose=REMINDER_CALL)
    ]
    session.expire_all()
    placed, refused = (session.get(type(call), call.id) for call in calls)
    assert placed is not None and placed.call_sid == f"call-{placed.id}"
    assert refused is not None and (refused.status, refused.error_code) == (
        CallStatus.FAILED,
        "InvalidParameterValue.CalledNumberVerifyFail",
    )
    marked = session.get(Member, invalid.id)
    assert marked is not None and marked.phone_invalid_at is not None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_twilio_provider_module_touches_twilios_client_errors_and_validator() -> None:
    """Twilio's REST client, its exceptions and its signature validator stay in one module."""
    offenders = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((PROJECT / package).rglob("*.py")):
            if path == TWILIO_PROVIDER:
                continue
            used = [name for name in _imports(path) if name.startswith(TWILIO_INTERNALS)]
            if used:
                offenders.append(f"{path.relative_to(PROJECT)}: {', '.join(sorted(used))}")
    assert offenders == []
    assert any(name.startswith("twilio.rest") for name in _imports(TWILIO_PROVIDER))


def _claimed_minutes_ago(session: Session, member: Member, minutes: int) -> int:
    """A row a worker claimed `minutes` ago and then died on."""
    message = _queued(session, member)
    at = utcnow() - timedelta(minutes=minutes)
    session.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(status=MessageStatus.SENDING, attempts=1, claimed_at=at, created_at=at)
    )
    session.commit()
    return message.id


def _record(to: str, sid: str) -> SentMessage:
    """A lookup record as Tencent gives it: no text, no id of ours."""
    return SentMessage(sid=sid, to=to, body="", delivery=MessageStatus.DELIVERED, date_created=None)


def test_a_lookup_that_lags_is_waited_for_before_anything_is_sent_again(
    session: Session, scripted: ScriptedProvider
) -> None:
    """Tencent lists a message only once it is reported on: a stuck row waits out the lag, is
    adopted by a record with no text when nothing can be confused, and is sent again only when
    the lag has passed with nothing listed."""
    scripted.lookup_lag = timedelta(minutes=30)
    waiting, late = make_member(session), make_member(session)
    young = _claimed_minutes_ago(session, waiting, 5)
    old = _claimed_minutes_ago(session, late, 45)

    assert reconcile_stuck() == {"adopted": 0, "requeued": 1, "waiting": 1, "unreachable": 0}
    scripted.listed.append(_record(waiting.phone, "tc-serial-1"))
    assert reconcile_stuck() == {"adopted": 1, "requeued": 0, "waiting": 0, "unreachable": 0}

    session.expire_all()
    rows = {m.id: (m.status, m.provider_sid) for m in session.scalars(select(Message))}
    assert rows[young] == (MessageStatus.DELIVERED, "tc-serial-1")
    assert rows[old] == (MessageStatus.QUEUED, None)


def test_a_record_with_no_text_is_not_adopted_when_two_rows_could_own_it(
    session: Session, scripted: ScriptedProvider
) -> None:
    scripted.lookup_lag = timedelta(minutes=30)
    member = make_member(session)
    first = _claimed_minutes_ago(session, member, 5)
    second = _claimed_minutes_ago(session, member, 5)
    scripted.listed.append(_record(member.phone, "tc-serial-2"))

    assert reconcile_stuck()["waiting"] == 2
    session.expire_all()
    assert {session.get(Message, i).provider_sid for i in (first, second)} == {None}  # type: ignore[union-attr]
