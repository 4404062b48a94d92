"""Tencent Cloud's pushes: status reports move outbox rows, replies are stored.

First as Tencent shapes them, posted straight at /cn/tencent/...; then as the sandbox pushes
them to the app served over real HTTP, after a send through the outbox on PROVIDER=tencent:
good, repeated, late, to a wrong secret. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from devtools.servers import free_port
from infra.providers import PushedText
from infra.providers.tencent import reply_text
from models import Direction, Member, Message, MessageStatus, ProviderPush, utcnow
from models.outbox import queue_sms
from tests.factories import make_member
from tests.gateway.tencent_support import (
    NOTICE_TEMPLATE,
    PUSH_SECRET,
    TencentSandboxAPI,
    tencent_config,
    tencent_sandbox,
)
from tests.live_server import serve
from tests.support import wait_until
from tests.workers.jobs import run_jobs
from workers import outbox, sending

STATUS_URL = f"/cn/tencent/sms-status/{PUSH_SECRET}"
REPLY_URL = f"/cn/tencent/sms-reply/{PUSH_SECRET}"
ACK = b'{"result":0,"errmsg":"OK"}'


@pytest.fixture(scope="module")
def push_port() -> int:
    """Where the app under test listens when the sandbox pushes to it."""
    return free_port()


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory, push_port: int) -> Iterator[str]:
    path = tmp_path_factory.mktemp("tencent-push") / "sandbox.db"
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


def _report(
    sid: str, mobile: str, status: str = "SUCCESS", errmsg: str = "DELIVRD"
) -> dict[str, Any]:
    return {
        "user_receive_time": "2026-12-02 10:03:04",
        "nationcode": "86",
        "mobile": mobile,
        "report_status": status,
        "errmsg": errmsg,
        "description": "用户短信送达成功",
        "sid": sid,
    }


def _post(client: FlaskClient, url: str, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False)
    return client.post(url, data=data, content_type="application/json")


def _sent(session: Session, member: Member, sid: str | None = "2433:1") -> Message:
    message = queue_sms(session, template_key="broadcast", params={"text": "通知"}, member=member)
    message.status = MessageStatus.SENT if sid else MessageStatus.SENDING
    message.provider_sid = sid
    session.commit()
    return message


def _row(session: Session, message: Message) -> Message:
    session.expire_all()
    row = session.get(Message, message.id)
    assert row is not None
    return row


def _pushes(session: Session, feed: str) -> list[ProviderPush]:
    session.expire_all()
    return list(
        session.scalars(
            select(ProviderPush).where(
                ProviderPush.provider == "tencent", ProviderPush.feed == feed
            )
        )
    )


def test_a_delivered_report_moves_its_row_and_gets_tencents_exact_answer(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    message = _sent(session, member)
    response = _post(client, STATUS_URL, [_report("2433:1", member.phone.removeprefix("+86"))])
    assert (response.status_code, response.data) == (200, ACK)
    assert _row(session, message).status is MessageStatus.DELIVERED


def test_a_failed_report_keeps_the_carriers_code(client: FlaskClient, session: Session) -> None:
    member = make_member(session)
    message = _sent(session, member)
    mobile = member.phone.removeprefix("+86")
    assert _post(client, STATUS_URL, [_report("2433:1", mobile, "FAIL", "MK:0001")]).data == ACK
    row = _row(session, message)
    assert (row.status, row.error_code) == (MessageStatus.UNDELIVERED, "MK:0001")
    # A late success for the same message does not move it back.
    assert _post(client, STATUS_URL, [_report("2433:1", mobile)]).data == ACK
    assert _row(session, message).status is MessageStatus.UNDELIVERED


def test_a_repeated_report_is_stored_and_applied_once(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    message = _sent(session, member)
    item = _report("2433:1", member.phone.removeprefix("+86"))
    for _ in range(2):
        assert _post(client, STATUS_URL, [item, item]).data == ACK
    assert len(_pushes(session, "sms-status")) == 1
    assert _row(session, message).status is MessageStatus.DELIVERED


@pytest.mark.parametrize("body", [b"{broken", {"sid": "2433:1"}, b"null", b'"text"'])
def test_a_malformed_batch_is_refused_and_nothing_stored(
    client: FlaskClient, session: Session, body: Any
) -> None:
    response = _post(client, STATUS_URL, body)
    assert response.status_code == 400 and response.get_json()["result"] != 0
    assert _pushes(session, "sms-status") == []


def test_a_bad_report_is_named_and_the_others_applied(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    message = _sent(session, member)
    good = _report("2433:1", member.phone.removeprefix("+86"))
    response = _post(client, STATUS_URL, [good, {**good, "report_status": "MAYBE"}, "x"])
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["result"] == 1
    assert "#2: report_status is not SUCCESS or FAIL" in answer["errmsg"]
    assert "#3: not an object" in answer["errmsg"]
    assert _row(session, message).status is MessageStatus.DELIVERED


def test_a_wrong_secret_is_a_404_that_stores_nothing(client: FlaskClient, session: Session) -> None:
    member = make_member(session)
    message = _sent(session, member)
    url = f"/cn/tencent/sms-status/{PUSH_SECRET}x"
    assert (
        _post(client, url, [_report("2433:1", member.phone.removeprefix("+86"))]).status_code == 404
    )
    assert _pushes(session, "sms-status") == []
    assert _row(session, message).status is MessageStatus.SENT


def test_a_report_that_beats_the_workers_write_finds_the_row_in_flight(
    client: FlaskClient, session: Session
) -> None:
    """The row to that number still in `sending` without a sid adopts the report's sid."""
    member = make_member(session)
    message = _sent(session, member, sid=None)
    assert (
        _post(client, STATUS_URL, [_report("2433:9", member.phone.removeprefix("+86"))]).data == ACK
    )
    row = _row(session, message)
    assert (row.status, row.provider_sid) == (MessageStatus.DELIVERED, "2433:9")


def test_with_two_rows_in_flight_a_report_is_not_guessed(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    first, second = _sent(session, member, sid=None), _sent(session, member, sid=None)
    assert (
        _post(client, STATUS_URL, [_report("2433:9", member.phone.removeprefix("+86"))]).data == ACK
    )
    assert [_row(session, m).status for m in (first, second)] == [MessageStatus.SENDING] * 2
    assert len(_pushes(session, "sms-status")) == 1  # kept for the record


def _reply(text: str = "HB 1", at: int = 1_780_000_000) -> dict[str, Any]:
    return {
        "extend": "",
        "mobile": "13800138000",
        "nationcode": "86",
        "sign": "流动党员",
        "text": text,
        "time": at,
    }


def test_a_reply_is_one_object_stored_once(client: FlaskClient, session: Session) -> None:
    for _ in range(2):
        assert _post(client, REPLY_URL, _reply()).data == ACK
    [push] = _pushes(session, "sms-reply")
    assert push.payload == _reply()
    text = reply_text(push.payload)
    assert text == PushedText(
        provider="tencent",
        phone="+8613800138000",
        text="HB 1",
        sent_at=text.sent_at,
        key=push.key,
    )
    assert int(text.sent_at.timestamp()) == 1_780_000_000


def test_a_td_reply_opts_the_member_out_and_the_confirmation_still_goes(
    app: Flask,
    client: FlaskClient,
    session: Session,
    redis_client: Redis,
    tencent_api: TencentSandboxAPI,
) -> None:
    """The reply goes through the SMS conversation in a job: TD opts the member out, and the
    confirmation, an essential row, goes back through Tencent as a template SMS."""
    app.config.pop("SMS_TEMPLATE_BOOK")  # the registry's book, as in production
    app.extensions.pop("provider", None)
    member = make_member(session, phone="+8613800138000")
    session.commit()
    assert _post(client, REPLY_URL, _reply("TD")).data == ACK
    run_jobs(redis_client)

    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.opted_out_at is not None
    reply = session.scalar(
        select(Message).where(Message.member_id == member.id, Message.direction == Direction.OUT)
    )
    assert reply is not None and (reply.essential, reply.status) == (True, MessageStatus.SENT)
    [sent] = tencent_api.sms(member.phone)
    assert sent["template_id"] == reply.template_key
    [push] = _pushes(session, "sms-reply")
    assert push.handled_at is not None and push.message_id is not None


def test_a_reply_whose_job_was_lost_is_answered_after_the_sweep(
    app: Flask,
    client: FlaskClient,
    session: Session,
    redis_client: Redis,
    tencent_api: TencentSandboxAPI,
) -> None:
    """Redis lost the text's job: a minute later the outbox sweep hands the text on again."""
    app.config.pop("SMS_TEMPLATE_BOOK")
    app.extensions.pop("provider", None)
    member = make_member(session, phone="+8613800138000")
    session.commit()
    assert _post(client, REPLY_URL, _reply("HB 1")).data == ACK
    redis_client.flushall()
    with app.app_context():
        assert outbox.sweep_outbox(utcnow().isoformat())["pushed_texts"] == 0  # too soon
        later = (utcnow() + timedelta(minutes=2)).isoformat()
        assert outbox.sweep_outbox(later)["pushed_texts"] == 1
    run_jobs(redis_client)
    assert len(tencent_api.sms(member.phone)) == 1
    [push] = _pushes(session, "sms-reply")
    assert push.handled_at is not None


def test_replies_in_an_array_are_each_kept_and_a_bad_one_named(
    client: FlaskClient, session: Session
) -> None:
    """Same number and time with another text is another reply; a reply without text is named."""
    response = _post(
        client, REPLY_URL, [_reply("HB 1"), _reply("DT 深圳"), {**_reply(), "text": ""}]
    )
    assert response.get_json() == {"result": 1, "errmsg": "#3: no text"}
    assert sorted(p.payload["text"] for p in _pushes(session, "sms-reply")) == ["DT 深圳", "HB 1"]


# The sandbox pushing to the app over real HTTP.


def _send_through_outbox(session: Session, member: Member) -> Message:
    message = queue_sms(session, template_key="broadcast", params={"text": "开会"}, member=member)
    session.commit()
    assert sending.send_message(message.id) == "sent"
    return message


def test_the_whole_loop_outbox_tencent_sandbox_report_delivered(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """queue_sms -> the outbox job on PROVIDER=tencent -> SendSms -> pushed report -> delivered."""
    member = make_member(session)
    with serve(app, port=push_port):
        message = _send_through_outbox(session, member)
        wait_until(lambda: _row(session, message).status is MessageStatus.DELIVERED)
    row = _row(session, message)
    [stored] = tencent_api.sms()
    assert (row.provider_sid, stored["template_id"], stored["params"]) == (
        stored["serial_no"],
        NOTICE_TEMPLATE,
        ["开会"],
    )
    # Only this message's report: an earlier test's may still be on its way from the sandbox.
    [pushed] = [
        push
        for push in tencent_api.pushes("sms-status")
        if any(item.get("sid") == row.provider_sid for item in push["body"])
    ]
    assert (pushed["outcome"], pushed["attempts"]) == ("delivered", 1)


def test_a_report_pushed_twice_is_applied_once(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    tencent_api.settings(push_twice=True)
    tencent_api.rule(report="FAIL", errmsg="MK:0005")
    member = make_member(session)
    with serve(app, port=push_port):
        message = _send_through_outbox(session, member)
        sid = _row(session, message).provider_sid

        def ours() -> list[dict[str, Any]]:  # an earlier test's report may land meanwhile
            return [
                push
                for push in tencent_api.pushes("sms-status")
                if any(item.get("sid") == sid for item in push["body"])
            ]

        wait_until(lambda: len(ours()) == 2)
    assert [p["outcome"] for p in ours()] == ["delivered"] * 2
    assert len(_pushes(session, "sms-status")) == 1
    row = _row(session, message)
    assert (row.status, row.error_code) == (MessageStatus.UNDELIVERED, "MK:0005")


def test_reports_come_late_and_in_one_batch(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """Rows stay `sent` until the late push, which carries both reports in one array."""
    tencent_api.settings(push_delay_ms=1500)
    members = [make_member(session) for _ in range(2)]
    with serve(app, port=push_port):
        messages = [_send_through_outbox(session, member) for member in members]
        assert [_row(session, m).status for m in messages] == [MessageStatus.SENT] * 2
        wait_until(
            lambda: all(_row(session, m).status is MessageStatus.DELIVERED for m in messages)
        )
    [pushed] = tencent_api.pushes("sms-status")
    assert len(pushed["body"]) == 2


def test_a_push_the_app_does_not_acknowledge_is_retried_then_dropped(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """An app with another secret answers 404: the sandbox tries again, and nothing is stored."""
    app.config["CN_CALLBACK_SECRET"] = "another-secret-" + "9" * 20
    member = make_member(session)
    with serve(app, port=push_port):
        message = _send_through_outbox(session, member)
        wait_until(lambda: len(tencent_api.pushes("sms-status")) == 1)
    [pushed] = tencent_api.pushes("sms-status")
    assert (pushed["outcome"], pushed["http_status"], pushed["attempts"]) == ("dropped", 404, 3)
    assert _pushes(session, "sms-status") == []
    assert _row(session, message).status is MessageStatus.SENT


def test_a_members_reply_is_pushed_by_the_sandbox_and_stored(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    with serve(app, port=push_port):
        sent = tencent_api.reply("+8613800138000", "汇报，1", time=int(time.time()))
        assert sent["reply"]["mobile"] == "13800138000"
        wait_until(lambda: len(_pushes(session, "sms-reply")) == 1)
    [push] = _pushes(session, "sms-reply")
    assert reply_text(push.payload).text == "汇报，1"
    [pushed] = tencent_api.pushes("sms-reply")
    assert pushed["outcome"] == "delivered" and pushed["body"]["text"] == "汇报，1"


def test_a_malformed_push_is_refused_retried_and_stores_nothing(
    app: Flask, session: Session, tencent_api: TencentSandboxAPI, push_port: int
) -> None:
    """A body that is not Tencent's batch gets 400 each time the sandbox tries it."""
    with serve(app, port=push_port):
        tencent_api.push("sms-status", raw='[{"sid": ')

        def ours() -> list[dict[str, Any]]:  # an earlier test's report may land meanwhile
            return [p for p in tencent_api.pushes("sms-status") if p["body"] == '[{"sid": ']

        wait_until(lambda: len(ours()) == 1)
    [pushed] = ours()
    assert (pushed["outcome"], pushed["http_status"], pushed["attempts"]) == ("dropped", 400, 3)
    assert json.loads(pushed["answer"])["result"] != 0
    # Nothing of it was stored: a report stored meanwhile is an earlier test's, with its sid.
    assert [p.payload for p in _pushes(session, "sms-status") if not p.payload.get("sid")] == []
