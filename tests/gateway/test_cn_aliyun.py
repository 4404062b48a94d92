"""Alibaba Cloud's pushes (SmsReport, SmsUp) into the app, and the whole way of a text.

The feed's rules through the app's test client first; then the sandbox process pushing to
the app served over real HTTP, on both databases.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.cn_aliyun import pushed_text
from infra.providers import OutboundSms, PushedText
from infra.providers.aliyun import lookup_sid
from models import Direction, Member, Message, MessageStatus, ProviderPush, Report, utcnow
from models.caps import HoldReason
from models.outbox import queue_sms
from tests.factories import make_member
from tests.gateway.aliyun_sandbox import PUSH_SECRET, TEMPLATES, AliyunSandbox
from tests.live_server import serve
from tests.support import wait_until
from tests.workers.jobs import run_jobs
from workers import sending
from workers.reconcile import reconcile_message

ACK = '{"code":0,"msg":"接收成功"}'
REPORT = f"/cn/aliyun/sms-report/{PUSH_SECRET}"
UP = f"/cn/aliyun/sms-up/{PUSH_SECRET}"


@pytest.fixture
def app_config(app_config: dict[str, Any], aliyun_sandbox: AliyunSandbox) -> dict[str, Any]:
    # DEBUG keeps the development pages in this app as in a sandbox one: the admin blueprint
    # is shared by every app of the test process, and an app built without them first would
    # leave them out of every later app (their module decorates it when first imported).
    return {**app_config, **aliyun_sandbox.settings(), "DEBUG": True}


@pytest.fixture
def live_app(app: Flask, aliyun_sandbox: AliyunSandbox) -> Iterator[str]:
    """The app served where the sandbox pushes."""
    with serve(app, port=aliyun_sandbox.app_port) as url:
        yield url


def _post(client: FlaskClient, url: str, body: Any) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    return client.post(url, data=data, content_type="application/json")


def _sent(session: Session, member: Member) -> Message:
    message = queue_sms(session, template_key="broadcast", params={"text": "通知"}, member=member)
    message.status = MessageStatus.SENT
    message.provider_sid = f"{uuid.uuid4().int % 10**9}^0"
    session.commit()
    return message


def _report(message: Message, success: bool = True, code: str = "DELIVERED") -> dict[str, Any]:
    return {
        "phone_number": message.phone.removeprefix("+86"),
        "send_time": "2026-12-02 19:05:00",
        "report_time": "2026-12-02 19:05:03",
        "success": success,
        "err_code": code,
        "err_msg": "用户接收成功" if success else "失败",
        "sms_size": "1",
        "biz_id": message.provider_sid,
        "out_id": str(message.id),
    }


def _row(session: Session, message: Message) -> Message:
    session.expire_all()
    row = session.get(Message, message.id)
    assert row is not None
    return row


def _pushes(session: Session, feed: str) -> list[ProviderPush]:
    session.expire_all()
    query = select(ProviderPush).where(ProviderPush.provider == "aliyun", ProviderPush.feed == feed)
    return list(session.scalars(query.order_by(ProviderPush.id)))


def test_a_receipt_moves_its_message_and_gets_alibabas_exact_acknowledgement(
    client: FlaskClient, session: Session
) -> None:
    """success true: delivered; the answer is byte for byte what Alibaba's documentation shows."""
    message = _sent(session, make_member(session))
    response = _post(client, REPORT, [_report(message)])
    assert response.status_code == 200
    assert response.get_data(as_text=True) == ACK
    assert response.mimetype == "application/json"
    assert _row(session, message).status is MessageStatus.DELIVERED


@pytest.mark.parametrize(
    ("code", "status", "invalid"),
    [
        ("MOBILE_NOT_ON_SERVICE", MessageStatus.FAILED, True),
        ("MK:0001", MessageStatus.UNDELIVERED, False),
    ],
)
def test_a_failed_receipt_keeps_the_code_and_acts_on_its_failure(
    client: FlaskClient, session: Session, code: str, status: MessageStatus, invalid: bool
) -> None:
    """A number out of service fails the row and marks the number; another code does not."""
    member = make_member(session)
    message = _sent(session, member)
    assert _post(client, REPORT, [_report(message, success=False, code=code)]).status_code == 200
    row = _row(session, message)
    assert (row.status, row.error_code) == (status, code)
    marked = session.get(Member, member.id)
    assert marked is not None and (marked.phone_invalid_at is not None) is invalid


def test_a_receipt_before_the_bizid_was_stored_finds_the_row_by_out_id(
    client: FlaskClient, session: Session
) -> None:
    """The worker has not written the BizId yet: the OutId finds the row, which adopts it."""
    member = make_member(session)
    message = queue_sms(session, template_key="broadcast", params={"text": "x"}, member=member)
    message.status = MessageStatus.SENDING
    session.commit()
    item = {**_report(message), "biz_id": "123456789^1"}
    assert _post(client, REPORT, [item]).get_data(as_text=True) == ACK
    row = _row(session, message)
    assert (row.status, row.provider_sid) == (MessageStatus.DELIVERED, "123456789^1")


def test_a_repeated_receipt_is_stored_once(client: FlaskClient, session: Session) -> None:
    """Alibaba sends an item twice, or the batch again: one stored item, acknowledged each time."""
    message = _sent(session, make_member(session))
    item = _report(message)
    for _ in range(2):
        assert _post(client, REPORT, [item, item]).get_data(as_text=True) == ACK
    assert len(_pushes(session, "sms-report")) == 1
    assert _row(session, message).status is MessageStatus.DELIVERED


class _WatchedLock:
    """The gate's thread lock, telling when a second taker comes to it."""

    def __init__(self, lock: Any) -> None:
        self.lock, self.tries, self.second_try = lock, 0, threading.Event()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        self.tries += 1
        if self.tries >= 2:
            self.second_try.set()
        return bool(self.lock.acquire(*args, **kwargs))

    def release(self) -> None:
        self.lock.release()


def test_a_push_takes_its_turn_at_the_write_gate(
    app: Flask, client: FlaskClient, session: Session, db_url: str
) -> None:
    """On SQLite a push waits while another writer holds the gate (it takes the write lock
    before reading, as /sms does, instead of failing on a lock it could not take later); on
    PostgreSQL the gate is open and the push goes through at once."""
    message = _sent(session, make_member(session))
    session.close()
    gate = app.extensions["db_write_gate"]
    watched = _WatchedLock(gate._thread_lock)
    gate._thread_lock = watched
    holding, released, pushed = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with gate.hold():
            holding.set()
            # SQLite: hold the gate until the push is queued at it; PostgreSQL: until the
            # push is through (its gate lets everyone by).
            (watched.second_try if gate.lock_path else pushed).wait(10)
            released.set()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(10)
    response = _post(client, REPORT, [_report(message)])
    waited = released.is_set()
    pushed.set()
    holder.join(10)
    gate._thread_lock = watched.lock
    assert response.get_data(as_text=True) == ACK
    assert waited is db_url.startswith("sqlite")
    assert _row(session, message).status is MessageStatus.DELIVERED


@pytest.mark.parametrize("body", [b"{not json", {"biz_id": "1"}, "null", b""])
def test_a_malformed_push_is_refused_with_a_non_zero_code(
    client: FlaskClient, session: Session, body: Any
) -> None:
    response = _post(client, REPORT, body)
    assert response.status_code == 400
    assert response.get_json()["code"] != 0
    assert _pushes(session, "sms-report") == []


def test_bad_items_are_named_and_the_good_ones_kept(client: FlaskClient, session: Session) -> None:
    """Item 2 has no biz_id, item 3 no boolean success: #1 is kept and acted on."""
    message = _sent(session, make_member(session))
    good = _report(message)
    response = _post(
        client,
        REPORT,
        [good, {**good, "biz_id": ""}, {**good, "success": "true"}],
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "code": 1,
        "msg": "#2: no biz_id; #3: success is not true or false",
    }
    assert len(_pushes(session, "sms-report")) == 1
    assert _row(session, message).status is MessageStatus.DELIVERED


def test_a_members_text_is_kept_once_as_a_pushed_text(
    client: FlaskClient, session: Session
) -> None:
    """SmsUp: stored under its sequence_id, read as a PushedText; nothing is answered yet."""
    item = {
        "phone_number": "13800001234",
        "send_time": "2026-12-02 20:15:00",
        "content": "HB 1 广州",
        "sign_name": "青山镇党委",
        "dest_code": "1234",
        "sequence_id": 987654321,
    }
    for _ in range(2):
        assert _post(client, UP, [item]).get_data(as_text=True) == ACK
    [push] = _pushes(session, "sms-up")
    assert push.key == "seq:987654321"
    text = pushed_text(push.payload, push.key)
    assert text == PushedText(
        provider="aliyun",
        phone="+8613800001234",
        text="HB 1 广州",
        sent_at=text.sent_at,
        key="seq:987654321",
    )
    assert text.sent_at is not None and text.sent_at.isoformat() == "2026-12-02T12:15:00+00:00"
    outbound = session.scalar(select(func.count()).select_from(Message))
    assert outbound == 0


def test_a_text_without_a_sequence_id_is_keyed_by_number_time_and_text(
    client: FlaskClient, session: Session
) -> None:
    item = {"phone_number": "13800001234", "send_time": "2026-12-02 20:15:00", "content": "TD"}
    _post(client, UP, [item, item, {**item, "content": "DY"}])
    assert len(_pushes(session, "sms-up")) == 2


# The sandbox pushing into the app over HTTP


def _queue_and_send(session: Session, member: Member) -> Message:
    message = queue_sms(session, template_key="broadcast", params={"text": "开会"}, member=member)
    session.commit()
    assert sending.send_message(message.id) == "sent"
    return message


def test_a_text_goes_out_through_alibaba_and_its_receipt_comes_back(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """queue_sms -> the outbox with PROVIDER=aliyun -> the sandbox -> SmsReport -> delivered."""
    member = make_member(session)
    message = _queue_and_send(session, member)

    [stored] = aliyun_sandbox.get("messages")
    assert (stored["template_code"], stored["params"], stored["out_id"]) == (
        TEMPLATES["broadcast"],
        {"text": "开会"},
        str(message.id),
    )
    assert _row(session, message).provider_sid == stored["biz_id"]
    wait_until(lambda: _row(session, message).status is MessageStatus.DELIVERED)

    # The sandbox records a push once it has our answer, a moment after we applied it. Only
    # this row's: a late push from an earlier test on the same sandbox may land meanwhile.
    def ours() -> list[Any]:
        return [
            push
            for push in aliyun_sandbox.get("pushes", feed="sms-report")
            if any(item.get("biz_id") == stored["biz_id"] for item in push["body"])
        ]

    wait_until(lambda: len(ours()) == 1)
    [push] = ours()
    assert (push["outcome"], push["attempts"], push["answer"]) == ("delivered", 1, ACK)
    assert [item["out_id"] for item in push["body"]] == [str(message.id)]


def test_receipts_for_several_messages_come_in_one_batch(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """Three sends in quick succession: their receipts arrive as one pushed array."""
    members = [make_member(session) for _ in range(3)]
    messages = [
        queue_sms(session, template_key="broadcast", params={"text": "开会"}, member=member)
        for member in members
    ]
    session.commit()
    provider = aliyun_sandbox.provider()
    for message in messages:
        aliyun_sandbox.fault(to=message.phone, delay_ms=300)
        provider.send_sms(
            OutboundSms(message.id, message.phone, message.body, "broadcast", {"text": "开会"})
        )
    wait_until(lambda: all(_row(session, m).status is MessageStatus.DELIVERED for m in messages))

    def recorded() -> list[Any]:
        found: list[Any] = aliyun_sandbox.get("pushes", feed="sms-report")
        return found

    wait_until(lambda: sum(len(push["body"]) for push in recorded()) == len(messages))
    pushes = recorded()
    # Each of the sandbox's two processes batches what it accepted.
    assert len(pushes) < len(messages)
    out_ids = sorted(item["out_id"] for push in pushes for item in push["body"])
    assert out_ids == sorted(str(m.id) for m in messages)


def test_a_receipt_pushed_twice_moves_the_row_once(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, repeat=True)
    message = _queue_and_send(session, member)
    wait_until(lambda: len(aliyun_sandbox.get("pushes", feed="sms-report")) == 2)
    assert {p["outcome"] for p in aliyun_sandbox.get("pushes", feed="sms-report")} == {"delivered"}
    assert len(_pushes(session, "sms-report")) == 1
    assert _row(session, message).status is MessageStatus.DELIVERED


def test_a_late_receipt_still_moves_the_row(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """The receipt comes a second later; until then the row stays sent."""
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, delay_ms=1500)
    message = _queue_and_send(session, member)
    # Nothing pushed yet: the row waits as sent until the receipt comes.
    assert aliyun_sandbox.get("pushes", feed="sms-report") == []
    assert _row(session, message).status is MessageStatus.SENT
    wait_until(lambda: _row(session, message).status is MessageStatus.DELIVERED)


def test_a_failed_delivery_comes_back_as_undelivered(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, err_code="MOBILE_IN_BLACK")
    message = _queue_and_send(session, member)
    wait_until(lambda: _row(session, message).status is MessageStatus.UNDELIVERED)
    assert _row(session, message).error_code == "MOBILE_IN_BLACK"
    session.expire_all()
    opted = session.get(Member, member.id)
    assert opted is not None and opted.opted_out_at is not None


def test_a_refusal_at_send_fails_the_row_with_alibabas_code(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    """A template Alibaba will not send: the row fails now with Alibaba's code kept."""
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, kind="template_not_approved")
    message = queue_sms(session, template_key="broadcast", params={"text": "x"}, member=member)
    session.commit()
    assert sending.send_message(message.id) == "failed"
    assert _row(session, message).error_code == "isv.SMS_TEMPLATE_ILLEGAL"


def test_over_alibabas_cap_the_row_waits_for_the_next_day(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    """Over the cap the request only counts against it again: the row waits, unattempted."""
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, kind="over_cap")
    message = queue_sms(session, template_key="broadcast", params={"text": "x"}, member=member)
    session.commit()
    assert sending.send_message(message.id) == "held"
    row = _row(session, message)
    assert (row.status, row.attempts, row.hold_reason) == (
        MessageStatus.QUEUED,
        0,
        HoldReason.DAILY_CAP,
    )


def test_a_malformed_push_is_retried_then_dropped_and_nothing_is_stored(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """The app answers 400; the sandbox tries again, as Alibaba does, then gives up."""
    result = aliyun_sandbox.post("push", {"feed": "sms-report", "body": {"not": "an array"}})
    assert (result["outcome"], result["http_status"], result["attempts"]) == ("dropped", 400, 4)
    assert _pushes(session, "sms-report") == []


def test_a_push_with_a_wrong_secret_gets_a_404_and_stores_nothing(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    message = _sent(session, make_member(session))
    result = aliyun_sandbox.post(
        "push", {"feed": "sms-report", "body": [_report(message)], "secret": "guessed"}
    )
    assert (result["outcome"], result["http_status"]) == ("dropped", 404)
    assert _pushes(session, "sms-report") == []
    good = aliyun_sandbox.post("push", {"feed": "sms-report", "body": [_report(message)]})
    assert (good["outcome"], good["attempts"], good["answer"]) == ("delivered", 1, ACK)
    assert _row(session, message).status is MessageStatus.DELIVERED


def test_a_members_text_pushed_by_the_sandbox_is_kept(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """The control endpoint the phone simulator will use: an SmsUp reaches /cn/aliyun/sms-up."""
    item = aliyun_sandbox.post("sms-up", {"from": "+8613800001234", "text": "HB 1"})
    wait_until(lambda: len(_pushes(session, "sms-up")) == 1)
    [push] = _pushes(session, "sms-up")
    assert push.key == f"seq:{item['sequence_id']}"
    assert pushed_text(push.payload, push.key).phone == "+8613800001234"


def test_a_members_text_gets_the_conversations_reply_as_a_template_sms(
    app: Flask,
    session: Session,
    redis_client: Redis,
    aliyun_sandbox: AliyunSandbox,
    live_app: str,
) -> None:
    """The whole way: the sandbox pushes `HB 1`, a job carries it out as /sms would (the
    report saved), and the reply goes back through Alibaba as a template SMS; pushed again,
    the text changes nothing and is not answered twice."""
    app.config.pop("SMS_TEMPLATE_BOOK")  # the registry's book, as in production
    app.extensions.pop("provider", None)
    member = make_member(session, phone="+8613800004321")
    session.commit()
    item = aliyun_sandbox.post("sms-up", {"from": member.phone, "text": "HB 1"})
    wait_until(lambda: len(_pushes(session, "sms-up")) == 1)
    run_jobs(redis_client)  # the text's job, then the reply's send

    session.expire_all()
    [push] = _pushes(session, "sms-up")
    assert push.handled_at is not None and push.error is None
    inbound = session.get(Message, push.message_id)
    assert inbound is not None
    assert (inbound.body, inbound.member_id, inbound.provider_sid) == (
        "HB 1",
        member.id,
        f"aliyun:seq:{item['sequence_id']}",
    )
    assert session.scalar(select(func.count(Report.id)).where(Report.member_id == member.id)) == 1
    reply = session.scalar(
        select(Message).where(Message.member_id == member.id, Message.direction == Direction.OUT)
    )
    # Sent, and perhaps delivered already: the sandbox pushes the receipt to the served app.
    assert reply is not None and reply.status in (MessageStatus.SENT, MessageStatus.DELIVERED)
    [sent] = aliyun_sandbox.get("messages", to=member.phone)
    assert sent["template_code"] == reply.template_key
    assert sent["out_id"] == str(reply.id)

    again = {**item, "sequence_id": item["sequence_id"]}
    aliyun_sandbox.post("push", {"feed": "sms-up", "body": [again]})
    run_jobs(redis_client)
    assert len(aliyun_sandbox.get("messages", to=member.phone)) == 1
    assert len(_pushes(session, "sms-up")) == 1


def test_a_row_stuck_in_sending_is_found_by_its_out_id_and_its_receipt_still_applies(
    client: FlaskClient, session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    """A worker died after Alibaba took the text: QuerySendDetails finds it by OutId (its
    content is Alibaba's rendering, not our body), and the later receipt still moves it."""
    member = make_member(session)
    # Settled by the sandbox only after the test: its lookup says "waiting" however slow.
    aliyun_sandbox.fault(to=member.phone, push=False, delay_ms=600_000)
    stuck, never = (
        queue_sms(session, template_key="broadcast", params={"text": "开会"}, member=member)
        for _ in range(2)
    )
    stuck.status = never.status = MessageStatus.SENDING
    session.commit()
    provider = aliyun_sandbox.provider()
    sent = provider.send_sms(
        OutboundSms(stuck.id, stuck.phone, stuck.body, "broadcast", {"text": "开会"})
    )
    now = utcnow()

    assert reconcile_message(session, provider, stuck, now) == "adopted"
    assert reconcile_message(session, provider, never, now) == "requeued"
    session.commit()

    assert _row(session, stuck).provider_sid == lookup_sid(stuck.id)
    assert _row(session, never).status is MessageStatus.QUEUED
    item = {**_report(stuck), "biz_id": sent.sid, "success": False, "err_code": "MK:0001"}
    assert _post(client, REPORT, [item]).get_data(as_text=True) == ACK
    assert _row(session, stuck).status is MessageStatus.UNDELIVERED
