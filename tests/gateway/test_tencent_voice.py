"""Calls through Tencent Cloud voice messages (VMS): SendTtsVoice, and the voice-status push.

A reminder call or a callback is placed by the real job through the SDK against the sandbox,
which rings a scripted member and pushes the key press and the call's status back to the app
served over real HTTP; pushes are also posted straight at /cn/tencent/voice-status, in every
order. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from devtools.servers import free_port
from gateway import create_app
from gateway.voice import ANSWER_TAKEN
from infra.db import get_session
from infra.providers import OutboundCall, ProviderError
from infra.providers.tencent import LESSON_UNSUPPORTED, call_context
from models import (
    Call,
    CallStatus,
    Channel,
    Lesson,
    LessonCategory,
    Member,
    ProviderPush,
    Report,
    utcnow,
    voice,
)
from models.call import CallbackReason, CallbackRequest, CallbackStatus, CallPurpose
from models.delivery import Failure
from tests.factories import make_member
from tests.gateway.tencent_support import (
    PUSH_SECRET,
    VMS_APP_ID,
    TencentSandboxAPI,
    provider,
    tencent_config,
    tencent_sandbox,
)
from tests.live_server import serve
from tests.support import make_config, wait_until
from workers.calls import place_call

VOICE_URL = f"/cn/tencent/voice-status/{PUSH_SECRET}"
ACK = b'{"result":0,"errmsg":"OK"}'


@pytest.fixture(scope="module")
def push_port() -> int:
    """Where the app under test listens when the sandbox pushes to it."""
    return free_port()


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory, push_port: int) -> Iterator[str]:
    path = tmp_path_factory.mktemp("tencent-voice") / "sandbox.db"
    with tencent_sandbox(path, push_base=f"http://127.0.0.1:{push_port}/cn") as url:
        yield url


@pytest.fixture
def tencent_api(sandbox_url: str) -> Iterator[TencentSandboxAPI]:
    api = TencentSandboxAPI(sandbox_url)
    api.reset()
    yield api
    api.reset()
    api.http.close()


@pytest.fixture
def app_config(app_config: dict[str, Any], sandbox_url: str) -> dict[str, Any]:
    return {**app_config, **tencent_config(sandbox_url)}


def _reminder(session: Session, member: Member) -> Call:
    call = voice.queue_outbound_call(session, member, purpose=CallPurpose.REMINDER, at=utcnow())
    session.commit()
    return call


def _callback(session: Session, member: Member) -> tuple[CallbackRequest, Call]:
    """A missed-call callback, claimed: its call (the menu) is queued."""
    callback = voice.request_callback(
        session, member, None, CallbackReason.MISSED_CALL, utcnow(), per_day=10
    )
    assert callback is not None
    call = voice.start_callback_call(session, callback, member, utcnow())
    session.commit()
    return callback, call


def _call(session: Session, call_id: int) -> Call:
    session.expire_all()
    call = session.get(Call, call_id)
    assert call is not None
    return call


def _reports(session: Session, member: Member) -> list[tuple[bool | None, Channel, int]]:
    session.expire_all()
    rows = session.scalars(select(Report).where(Report.member_id == member.id)).all()
    return [(r.studied, r.channel, r.revision) for r in rows]


def _pushes(session: Session) -> list[ProviderPush]:
    session.expire_all()
    return list(
        session.scalars(
            select(ProviderPush)
            .where(ProviderPush.provider == "tencent", ProviderPush.feed == "voice-status")
            .order_by(ProviderPush.id)
        )
    )


def _post(client: FlaskClient, body: Any, url: str = VOICE_URL) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False)
    return client.post(url, data=data, content_type="application/json")


def _base(member: Member, callid: str) -> dict[str, Any]:
    return {
        "call_from": "",
        "callid": callid,
        "mobile": member.phone.removeprefix("+86"),
        "nationcode": "86",
    }


def _key(member: Member, callid: str, key: str = "1") -> dict[str, Any]:
    return {"voicekey_callback": {**_base(member, callid), "keypress": key}}


def _status(member: Member, callid: str, result: str = "0", seconds: int = 18) -> dict[str, Any]:
    return {
        "voiceprompt_callback": {
            **_base(member, callid),
            "result": result,
            "accept_time": "1780000010" if result == "0" else "0",
            "start_calltime": "1780000000",
            "end_calltime": str(1780000010 + seconds),
            "fee": "1",
        }
    }


def _failure(member: Member, callid: str, code: int = 5) -> dict[str, Any]:
    return {
        "voice_failure_callback": {
            **_base(member, callid),
            "failure_code": code,
            "failure_reason": "无人接听",
        }
    }


def _placed(session: Session, member: Member, callid: str = "vms-call-1") -> Call:
    """A reminder call Tencent took, with its CallId stored."""
    call = _reminder(session, member)
    call.status, call.call_sid = CallStatus.INITIATED, callid
    session.commit()
    return call


# Placing the call: SendTtsVoice through the SDK against the sandbox.


def test_a_reminder_call_is_sendttsvoice_of_the_report_template_with_our_call_id(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI
) -> None:
    """The job asks Tencent to speak the report question to the member; Tencent's CallId
    becomes the call's sid."""
    tencent_api.script(action="ring")  # the member does not pick up during this test
    member = make_member(session)
    call = _reminder(session, member)

    assert place_call(call.id) == "placed"

    [sent] = tencent_api.calls(member.phone)
    assert (sent["template_id"], sent["params"], sent["sdk_app_id"], sent["play_times"]) == (
        "voice.report_question",  # not approved yet: the sandbox takes it under its key
        [],
        VMS_APP_ID,
        2,
    )
    assert sent["session_context"] == call_context(call.id) == f"call:{call.id}"
    stored = _call(session, call.id)
    assert (stored.status, stored.call_sid) == (CallStatus.INITIATED, sent["call_id"])


def test_the_member_presses_1_and_the_report_is_saved_by_phone(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """The whole loop: place_call -> SendTtsVoice -> the member answers and presses 1 -> the
    sandbox pushes the key and the status -> the call ends and the report is saved (ivr)."""
    member = make_member(session)
    call = _reminder(session, member)
    with serve(app, port=push_port):
        assert place_call(call.id) == "placed"
        wait_until(lambda: _call(session, call.id).status is CallStatus.COMPLETED)
    assert _reports(session, member) == [(True, Channel.IVR, 1)]
    stored = _call(session, call.id)
    assert stored.duration == 20 and stored.next_attempt_at is None
    assert [p["outcome"] for p in tencent_api.pushes("voice-status")] == ["delivered"] * 2


def test_every_push_twice_and_the_key_after_the_status_save_one_report(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """The sandbox pushes the status first, then the key press, each twice: one report."""
    tencent_api.script(action="answer", keys="2", seconds=9, twice=True, key_after_status=True)
    member = make_member(session)
    call = _reminder(session, member)
    with serve(app, port=push_port):
        assert place_call(call.id) == "placed"
        wait_until(lambda: len(tencent_api.pushes("voice-status")) == 4)
        wait_until(lambda: bool(_reports(session, member)))
    pushed = [next(iter(p["body"])) for p in tencent_api.pushes("voice-status")]
    assert pushed == ["voiceprompt_callback"] * 2 + ["voicekey_callback"] * 2
    assert _reports(session, member) == [(False, Channel.IVR, 1)]
    assert len(_pushes(session)) == 2  # each item stored once
    assert _call(session, call.id).status is CallStatus.COMPLETED


def test_late_pushes_leave_the_call_placed_until_they_come(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    tencent_api.script(action="answer", keys="1", delay_ms=1500)
    member = make_member(session)
    call = _reminder(session, member)
    with serve(app, port=push_port):
        assert place_call(call.id) == "placed"
        assert _call(session, call.id).status is CallStatus.INITIATED
        assert _reports(session, member) == []
        wait_until(lambda: _call(session, call.id).status is CallStatus.COMPLETED)
    assert _reports(session, member) == [(True, Channel.IVR, 1)]


def test_a_call_nobody_answers_is_tried_again_later(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """Status result 1 and failure_code 5 (无人接听): no answer, kept for a retry."""
    tencent_api.script(action="no_answer")
    member = make_member(session)
    call = _reminder(session, member)
    with serve(app, port=push_port):
        assert place_call(call.id) == "placed"
        wait_until(lambda: len(_pushes(session)) == 2)
    stored = _call(session, call.id)
    assert (stored.status, stored.error_code) == (CallStatus.NO_ANSWER, "5")
    assert stored.next_attempt_at is not None
    assert _reports(session, member) == []


def test_a_lesson_call_is_refused_with_a_reason_and_never_reaches_tencent(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI
) -> None:
    """VMS speaks templates only: the lesson's audio cannot be played, and the call fails at
    once with a reason that no retry will change."""
    member = make_member(session)
    lesson = Lesson(
        org_id=member.branch_id,
        title="劳动合同法要点",
        category=LessonCategory.POLICY,
        transcript="",
        duration=300,
    )
    session.add(lesson)
    session.flush()
    call = voice.queue_outbound_call(
        session, member, purpose=CallPurpose.LESSON, lesson_id=lesson.id, at=utcnow()
    )
    session.commit()

    assert place_call(call.id) == "failed"

    stored = _call(session, call.id)
    assert (stored.status, stored.error_code) == (CallStatus.FAILED, LESSON_UNSUPPORTED)
    assert tencent_api.calls() == []
    with pytest.raises(ProviderError) as refused:
        provider(tencent_api.url).place_call(
            OutboundCall(1, member.phone, purpose=CallPurpose.LESSON, lesson_id=lesson.id)
        )
    assert not refused.value.transient
    assert "lesson" in str(refused.value)


def test_a_frequency_limit_puts_the_callback_back_for_later(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI
) -> None:
    """LimitExceeded.DeliveryFrequencyLimit is transient: the callback waits for the member's
    next window instead of failing; the member's number stays good."""
    member = make_member(session)
    tencent_api.script(to=member.phone, action="refuse", count=1)
    callback, call = _callback(session, member)

    assert place_call(call.id) == "failed"

    stored = _call(session, call.id)
    assert (stored.status, stored.error_code) == (
        CallStatus.FAILED,
        "LimitExceeded.DeliveryFrequencyLimit",
    )
    again = session.get(CallbackRequest, callback.id)
    assert again is not None and again.status is CallbackStatus.PENDING
    assert again.scheduled_for is not None and again.scheduled_for > utcnow()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.phone_invalid_at is None


def test_an_invalid_number_fails_the_callback_for_good(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI
) -> None:
    member = make_member(session)
    tencent_api.script(
        to=member.phone, action="refuse", code="InvalidParameterValue.CalledNumberVerifyFail"
    )
    callback, call = _callback(session, member)
    assert place_call(call.id) == "failed"
    session.expire_all()
    again = session.get(CallbackRequest, callback.id)
    assert again is not None and again.status is CallbackStatus.FAILED
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.phone_invalid_at is not None


def test_an_unapproved_template_is_refused_not_retried(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI
) -> None:
    tencent_api.settings(unapproved_templates=["voice.report_question"])
    with pytest.raises(ProviderError) as refused:
        provider(tencent_api.url).place_call(
            OutboundCall(7, "+8613800138000", purpose=CallPurpose.REMINDER)
        )
    assert (refused.value.code, refused.value.failure) == (
        "FailedOperation.TemplateIncorrectOrUnapproved",
        Failure.REFUSED,
    )
    assert tencent_api.calls() == []


def test_a_number_tencent_cannot_call_is_refused_as_invalid(
    app: Flask, tencent_api: TencentSandboxAPI
) -> None:
    """A number that is not a mainland mobile: InvalidParameterValue.CalledNumberVerifyFail."""
    with pytest.raises(ProviderError) as refused:
        provider(tencent_api.url).place_call(OutboundCall(8, "+861234", purpose=CallPurpose.MENU))
    assert (refused.value.code, refused.value.failure) == (
        "InvalidParameterValue.CalledNumberVerifyFail",
        Failure.INVALID_NUMBER,
    )
    assert tencent_api.calls() == []


# The voice-status push, posted straight at the app.


@pytest.mark.parametrize(
    "order",
    [
        ("key", "status"),
        ("status", "key"),
        ("status", "key", "status", "key"),
        ("key", "key", "status", "status"),
    ],
)
def test_the_report_is_saved_once_whatever_the_order_of_the_pushes(
    client: FlaskClient, session: Session, order: tuple[str, ...]
) -> None:
    member = make_member(session)
    call = _placed(session, member)
    items = {
        "key": _key(member, "vms-call-1", "1"),
        "status": _status(member, "vms-call-1"),
    }
    for kind in order:
        response = _post(client, items[kind])
        assert (response.status_code, response.data) == (200, ACK)
    assert _reports(session, member) == [(True, Channel.IVR, 1)]
    stored = _call(session, call.id)
    assert (stored.status, stored.duration) == (CallStatus.COMPLETED, 18)
    assert stored.state.get(ANSWER_TAKEN) is True
    assert len(_pushes(session)) == len(set(order))


def test_a_key_press_alone_waits_for_the_status(client: FlaskClient, session: Session) -> None:
    member = make_member(session)
    call = _placed(session, member)
    assert _post(client, _key(member, "vms-call-1", "2")).data == ACK
    assert _call(session, call.id).status is CallStatus.INITIATED
    assert _reports(session, member) == []


def test_a_second_key_after_the_answer_changes_nothing(
    client: FlaskClient, session: Session
) -> None:
    """The first answer key counts; a later 2 neither changes nor adds a report."""
    member = make_member(session)
    _placed(session, member)
    for item in (_key(member, "vms-call-1", "1"), _status(member, "vms-call-1")):
        assert _post(client, item).data == ACK
    assert _post(client, _key(member, "vms-call-1", "2")).data == ACK
    assert _reports(session, member) == [(True, Channel.IVR, 1)]


def test_an_answered_call_without_a_key_ends_with_no_report(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    call = _placed(session, member)
    assert _post(client, _status(member, "vms-call-1", seconds=4)).data == ACK
    stored = _call(session, call.id)
    assert (stored.status, stored.duration, stored.next_attempt_at) == (
        CallStatus.COMPLETED,
        4,
        None,
    )
    assert _reports(session, member) == []


def test_a_status_that_beats_the_callid_finds_the_call_placed_to_that_number(
    client: FlaskClient, session: Session
) -> None:
    """The job stores Tencent's CallId a moment after Tencent answered; a push before that
    goes to the one call to that number still without one, which adopts the callid."""
    member = make_member(session)
    call = _reminder(session, member)
    call.status = CallStatus.INITIATED
    session.commit()
    for item in (_key(member, "vms-early"), _status(member, "vms-early")):
        assert _post(client, item).data == ACK
    stored = _call(session, call.id)
    assert (stored.call_sid, stored.status) == ("vms-early", CallStatus.COMPLETED)
    assert _reports(session, member) == [(True, Channel.IVR, 1)]


def test_a_push_for_no_call_of_ours_is_kept_with_its_error(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    session.commit()
    assert _post(client, _status(member, "vms-nobody")).data == ACK
    [push] = _pushes(session)
    assert push.handled_at is None and push.error is not None and "vms-nobody" in push.error


def test_a_wrong_secret_is_a_404_that_stores_nothing(client: FlaskClient, session: Session) -> None:
    member = make_member(session)
    call = _placed(session, member)
    url = f"/cn/tencent/voice-status/{PUSH_SECRET}x"
    for item in (_key(member, "vms-call-1"), _status(member, "vms-call-1")):
        assert _post(client, item, url).status_code == 404
    assert _pushes(session) == []
    assert _call(session, call.id).status is CallStatus.INITIATED


@pytest.mark.parametrize(
    "body", [b"{broken", b"null", b'"text"', b"12", b'{"voiceprompt_callback": 1}']
)
def test_a_malformed_push_is_refused_and_nothing_stored(
    client: FlaskClient, session: Session, body: bytes
) -> None:
    response = _post(client, body)
    if body.startswith(b'{"voice'):
        # An object of the right shape with an unreadable item: named, nothing stored.
        assert response.status_code == 200 and response.get_json()["result"] == 1
    else:
        assert response.status_code == 400 and response.get_json()["result"] != 0
    assert _pushes(session) == []


def test_a_bad_item_is_named_and_the_good_ones_kept(client: FlaskClient, session: Session) -> None:
    member = make_member(session)
    call = _placed(session, member)
    good = [_key(member, "vms-call-1"), _status(member, "vms-call-1")]
    bad = {"voiceprompt_callback": {**_base(member, "vms-call-1"), "result": "9"}}
    response = _post(client, [good[0], bad, "x", good[1]])
    assert response.status_code == 200
    errmsg = response.get_json()["errmsg"]
    assert "#2: result is not 0, 1 or 2" in errmsg and "#3: not an object" in errmsg
    assert _call(session, call.id).status is CallStatus.COMPLETED
    assert _reports(session, member) == [(True, Channel.IVR, 1)]


def test_a_malformed_push_from_the_sandbox_is_refused_each_time(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    with serve(app, port=push_port):
        tencent_api.push("voice-status", raw='{"voicekey_callback": ')
        wait_until(lambda: len(tencent_api.pushes("voice-status")) == 1)
    [pushed] = tencent_api.pushes("voice-status")
    assert (pushed["outcome"], pushed["http_status"], pushed["attempts"]) == ("dropped", 400, 3)
    assert _pushes(session) == []


def test_a_busy_member_is_tried_again_an_hour_on(client: FlaskClient, session: Session) -> None:
    """Pushed straight: result 1 then failure_code 2 (通话中): no answer, with the code."""
    member = make_member(session)
    call = _placed(session, member)
    before = utcnow()
    items = [_status(member, "vms-call-1", "1"), _failure(member, "vms-call-1", 2)]
    assert _post(client, items).data == ACK
    stored = _call(session, call.id)
    assert (stored.status, stored.error_code) == (CallStatus.NO_ANSWER, "2")
    assert stored.next_attempt_at is not None
    assert stored.next_attempt_at >= before + timedelta(minutes=59)


# `flask phone call` under PROVIDER=tencent.


def test_phone_call_answers_the_ringing_call_and_prints_what_was_heard_and_saved(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """The call rings until the command picks it up and presses 2; the sandbox then pushes
    the key and the status, and the command shows the report the app saved."""
    tencent_api.script(action="ring")
    member = make_member(session)
    call = _reminder(session, member)
    runner = app.test_cli_runner()
    with serve(app, port=push_port):
        assert place_call(call.id) == "placed"
        result = runner.invoke(args=["phone", "call", member.phone, "--press", "2"])
    assert result.exit_code == 0, result.output
    assert "  hears: 您好,这里是村党支部的月度汇报电话。" in result.output
    assert "  press 2" in result.output
    assert f"saved: call {call.id} completed, 20 s" in result.output
    assert "studied=False channel=ivr" in result.output
    assert _reports(session, member) == [(False, Channel.IVR, 1)]
    again = runner.invoke(args=["phone", "call", member.phone, "--press", "1"])
    assert again.exit_code == 1 and "no call is ringing" in again.output
    missed = runner.invoke(args=["phone", "call", member.phone, "--missed"])
    assert missed.exit_code == 1 and "by SMS" in missed.output


def test_a_key_and_the_end_pushed_at_once_are_settled_one_after_the_other(
    postgres_url: str, redis_url: str, tmp_path: Path, sandbox_url: str
) -> None:
    """PostgreSQL: the key's request has stored its item and holds the call, uncommitted, when
    the end's request comes: that one waits for it, then sees the key and saves the report."""
    app = create_app(
        {**make_config(postgres_url, redis_url, tmp_path), **tencent_config(sandbox_url)}
    )
    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    try:
        with app.app_context():
            session = get_session()
            member = make_member(session)
            call = _placed(session, member, "vms-race")
            call_id, member_id = call.id, member.id
            key, status = _key(member, "vms-race", "1"), _status(member, "vms-race")
        answers: list[Any] = []
        with psycopg.connect(plain) as other:
            other.execute(
                "INSERT INTO provider_pushes (provider, feed, key, payload, received_at) "
                "VALUES ('tencent', 'voice-status', 'vms-race:key:1', %s, now())",
                (json.dumps(key),),
            )
            other.execute("SELECT id FROM calls WHERE id = %s FOR UPDATE", (call_id,))
            ending = threading.Thread(
                target=lambda: answers.append(_post(app.test_client(), status).data)
            )
            ending.start()
            # The status's request waits for the call's row, which the key's request holds.
            wait_until(
                lambda: (
                    other.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]
                    > 0
                )
            )
            assert ending.is_alive()
            other.commit()
            ending.join(10)
        assert answers == [ACK]
        with app.app_context():
            reports = get_session().scalars(select(Report).where(Report.member_id == member_id))
            assert [(r.studied, r.channel) for r in reports] == [(True, Channel.IVR)]
    finally:
        engine = app.extensions["db_engine"]
        with engine.begin() as conn:  # as the db_url fixture leaves PostgreSQL for the next test
            names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
            conn.execute(text("TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(names))))
        engine.dispose()
