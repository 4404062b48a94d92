"""The outbox under PROVIDER=aliyun: rows sharing a template go in one SendBatchSms.

The sandbox process answers the official SDK and pushes receipts to the app served over real
HTTP; jobs run on a real RQ worker and Redis, on both databases.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.providers import Failure, OutboundSms, ProviderError, SentMessage
from infra.providers.aliyun import (
    MAX_OUT_ID,
    _OutId,
    batch_ids,
    batch_lookup_sid,
    batch_out_id,
    batch_sid,
)
from models import Member, Message, MessageStatus, find_org, utcnow
from models.broadcast import create_broadcast
from models.caps import HoldReason
from models.outbox import queue_sms
from tests.factories import make_member, make_tree, open_window_now
from tests.gateway.aliyun_sandbox import PUSH_SECRET, TEMPLATES, AliyunSandbox
from tests.live_server import serve
from tests.support import wait_until
from tests.workers.jobs import run_jobs
from workers import broadcasts, sending
from workers.reconcile import reconcile_message

REPORT = f"/cn/aliyun/sms-report/{PUSH_SECRET}"
ACK = '{"code":0,"msg":"接收成功"}'


@pytest.fixture
def app_config(app_config: dict[str, Any], aliyun_sandbox: AliyunSandbox) -> dict[str, Any]:
    # DEBUG as in test_cn_aliyun.py (the admin blueprint is shared by every app of the
    # process); a rate no test waits for, so a batch is the provider's 100.
    return {
        **app_config,
        **aliyun_sandbox.settings(),
        "DEBUG": True,
        "SEND_RATE_SEGMENTS_PER_S": 10_000.0,
    }


@pytest.fixture
def live_app(app: Flask, aliyun_sandbox: AliyunSandbox) -> Iterator[str]:
    """The app served where the sandbox pushes."""
    with serve(app, port=aliyun_sandbox.app_port) as url:
        yield url


def _members(session: Session, count: int) -> list[Member]:
    township, east, west = make_tree(session)
    open_window_now(township)
    members = [make_member(session, east if n % 2 else west) for n in range(count)]
    session.commit()
    return members


def _rows(session: Session, members: list[Member], text: str = "开会") -> list[Message]:
    rows = [
        queue_sms(session, template_key="broadcast", params={"text": text}, member=member)
        for member in members
    ]
    session.commit()
    return rows


def _fresh(session: Session, rows: list[Message]) -> list[Message]:
    session.expire_all()
    found = {
        m.id: m for m in session.scalars(select(Message).where(Message.id.in_(r.id for r in rows)))
    }
    return [found[row.id] for row in rows]


def _aliyun(number: str) -> str:
    return number.removeprefix("+86")


def _requests(sandbox: AliyunSandbox) -> Counter[tuple[str, str]]:
    """Numbers per request the sandbox took: (action, BizId) -> count."""
    return Counter((m["action"], m["biz_id"]) for m in sandbox.get("messages"))


def test_a_broadcast_to_250_goes_in_three_batches_and_each_receipt_finds_its_row(
    session: Session, redis_client: Redis, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """250 members: three SendBatchSms (100, 100, 50), each number once with its own sign
    name and parameters; the receipts pushed for each batch mark every row delivered."""
    members = _members(session, 250)
    org = find_org(session, "青山镇")
    assert org is not None
    broadcast = create_broadcast(
        session,
        org=org,
        author_id=None,
        text="本月28日开会",
        target={},
        scheduled_at=None,
        now=utcnow(),
    )
    broadcasts.start_broadcast(session, broadcast)
    session.commit()
    run_jobs(redis_client)

    stored = aliyun_sandbox.get("messages")
    assert Counter(m["to"] for m in stored) == Counter(_aliyun(m.phone) for m in members)
    sizes = sorted(_requests(aliyun_sandbox).values(), reverse=True)
    assert sizes == [100, 100, 50]
    assert {action for action, _ in _requests(aliyun_sandbox)} == {"SendBatchSms"}
    assert {(m["template_code"], json.dumps(m["params"], ensure_ascii=False)) for m in stored} == {
        (TEMPLATES["broadcast"], '{"text": "本月28日开会"}')
    }
    rows = list(session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)))
    session.commit()  # no read transaction left open while the app writes the receipts
    by_number = {m["to"]: m for m in stored}
    for row in rows:
        sent = by_number[_aliyun(row.phone)]
        assert row.provider_sid == batch_sid(sent["biz_id"], row.phone)
        assert row.id in batch_ids(sent["out_id"])

    def delivered() -> int:
        session.expire_all()
        statuses = list(
            session.scalars(select(Message.status).where(Message.broadcast_id == broadcast.id))
        )
        session.commit()
        return statuses.count(MessageStatus.DELIVERED)

    wait_until(lambda: delivered() == 250, timeout=30)


def test_a_number_at_its_cap_is_held_out_of_the_batch(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    """The caps are checked row by row before the request: the number that had its ten texts
    today waits for tomorrow with its reason; the others go in one SendBatchSms."""
    members = _members(session, 5)
    capped = members[2]
    for _ in range(10):  # ten texts Alibaba accepted today for this number
        earlier = queue_sms(session, template_key="reminder", params={}, member=capped)
        earlier.status = MessageStatus.DELIVERED
        earlier.provider_sid = f"earlier-{earlier.id}"
        earlier.sent_at = utcnow() - timedelta(minutes=5)
    rows = _rows(session, members)

    counts = sending.send_batch([row.id for row in rows])

    assert (counts["sent"], counts["held"]) == (4, 1)
    assert list(_requests(aliyun_sandbox).values()) == [4]
    assert _aliyun(capped.phone) not in {m["to"] for m in aliyun_sandbox.get("messages")}
    held = _fresh(session, rows)[2]
    assert (held.status, held.hold_reason, held.attempts) == (
        MessageStatus.QUEUED,
        HoldReason.DAILY_CAP,
        0,
    )
    assert held.next_attempt_at is not None and held.next_attempt_at > utcnow()


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("template_not_approved", MessageStatus.FAILED, "isv.SMS_TEMPLATE_ILLEGAL"),
        ("system_error", MessageStatus.QUEUED, None),
    ],
)
def test_a_batch_refused_whole_fails_or_retries_every_row_as_one_send_would(
    session: Session,
    aliyun_sandbox: AliyunSandbox,
    kind: str,
    status: MessageStatus,
    code: str | None,
) -> None:
    """A refusal of the request (a template not approved; a fault at Alibaba) is every row's:
    failed with Alibaba's code, or back in the queue for a retry with the attempt counted."""
    aliyun_sandbox.fault(kind=kind, action="SendBatchSms", count=1)
    rows = _rows(session, _members(session, 4))

    sending.send_batch([row.id for row in rows])

    assert aliyun_sandbox.get("messages") == []
    for row in _fresh(session, rows):
        assert (row.status, row.error_code, row.attempts) == (status, code, 1)
        if status is MessageStatus.QUEUED:
            assert row.next_attempt_at is not None and row.next_attempt_at > utcnow()


@pytest.mark.parametrize(
    ("kind", "status", "hold"),
    [
        ("unknown_number", MessageStatus.FAILED, None),
        ("over_cap", MessageStatus.QUEUED, HoldReason.DAILY_CAP),
    ],
)
def test_a_refusal_about_one_number_lands_on_its_row_and_the_others_go(
    session: Session,
    aliyun_sandbox: AliyunSandbox,
    kind: str,
    status: MessageStatus,
    hold: HoldReason | None,
) -> None:
    """Alibaba refuses the whole batch for one number (over its cap, not a mobile): the rows
    go again one by one, so only that number's row fails (its member's number marked invalid)
    or waits for tomorrow, and the others are sent."""
    members = _members(session, 4)
    aliyun_sandbox.fault(kind=kind, to=members[1].phone)
    rows = _rows(session, members)

    sending.send_batch([row.id for row in rows])

    fresh = _fresh(session, rows)
    assert [row.status for row in fresh] == [
        MessageStatus.SENT,
        status,
        MessageStatus.SENT,
        MessageStatus.SENT,
    ]
    assert fresh[1].hold_reason is hold
    assert sorted(m["to"] for m in aliyun_sandbox.get("messages")) == sorted(
        _aliyun(m.phone) for m in (members[0], members[2], members[3])
    )
    member = session.get(Member, members[1].id)
    assert member is not None
    assert (member.phone_invalid_at is not None) is (kind == "unknown_number")


def test_a_throttled_batch_goes_back_and_is_sent_once_after_the_pause(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    """Throttling.User on the batch: every row back unattempted (their caps' places given
    back), then the same rows in one batch once the bucket lets them."""
    aliyun_sandbox.fault(kind="throttled", action="SendBatchSms", count=1)
    rows = _rows(session, _members(session, 3))

    counts = sending.send_batch([row.id for row in rows])

    assert counts["sent"] == 3
    assert list(_requests(aliyun_sandbox).values()) == [3]
    assert {(row.status, row.attempts, row.hold_reason) for row in _fresh(session, rows)} == {
        (MessageStatus.SENT, 1, None)
    }


def test_a_job_run_twice_sends_each_row_once(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    """The rows are claimed before the request: the second run finds none to send."""
    rows = _rows(session, _members(session, 6))
    ids = [row.id for row in rows]

    first = sending.send_batch(ids)
    second = sending.send_batch(ids)

    assert (first["sent"], second["sent"]) == (6, 0)
    assert list(_requests(aliyun_sandbox).values()) == [6]


def test_a_batch_whose_worker_died_is_found_row_by_row_and_its_receipts_still_apply(
    client: FlaskClient, session: Session, aliyun_sandbox: AliyunSandbox, app: Flask
) -> None:
    """kill -9 after Alibaba took the batch, before the sids were stored: one row's receipt
    comes first and adopts the batch's sid; reconciliation finds the others in QuerySendDetails
    by the batch's OutId (never sending them again), and their later receipts still apply."""
    members = _members(session, 3)
    for member in members:
        # The sandbox settles these only after the test: its lookup says "waiting" (status 1)
        # however slow the machine, and the receipts below are the only outcome.
        aliyun_sandbox.fault(to=member.phone, push=False, delay_ms=600_000)
    rows = _rows(session, members)
    never = _rows(session, [make_member(session)])[0]
    for row in (*rows, never):
        row.status = MessageStatus.SENDING
    session.commit()
    provider = aliyun_sandbox.provider()
    answers = provider.send_batch(
        [OutboundSms(r.id, r.phone, r.body, "broadcast", {"text": "开会"}) for r in rows]
    )
    assert all(isinstance(answer, SentMessage) for answer in answers)
    sent = {m["to"]: m for m in aliyun_sandbox.get("messages")}
    [out_id] = {m["out_id"] for m in sent.values()}  # one OutId for the whole batch

    def report(row: Message, success: bool = True) -> dict[str, Any]:
        item = sent[_aliyun(row.phone)]
        return {
            "phone_number": item["to"],
            "send_time": "2026-12-02 19:05:00",
            "report_time": "2026-12-02 19:05:03",
            "success": success,
            "err_code": "DELIVERED" if success else "MOBILE_NOT_ON_SERVICE",
            "err_msg": "",
            "sms_size": "1",
            "biz_id": item["biz_id"],
            "out_id": item["out_id"],
        }

    first = client.post(REPORT, json=[report(rows[0])])
    assert first.get_data(as_text=True) == ACK
    now = utcnow()
    assert reconcile_message(session, provider, rows[1], now) == "adopted"
    assert reconcile_message(session, provider, rows[2], now) == "adopted"
    assert reconcile_message(session, provider, never, now) == "requeued"
    session.commit()
    fresh = _fresh(session, rows)
    assert fresh[0].status is MessageStatus.DELIVERED
    assert fresh[0].provider_sid == batch_sid(sent[_aliyun(rows[0].phone)]["biz_id"], rows[0].phone)
    assert [row.provider_sid for row in fresh[1:]] == [
        batch_lookup_sid(out_id, row.phone) for row in rows[1:]
    ]
    assert _fresh(session, [never])[0].status is MessageStatus.QUEUED

    later = client.post(REPORT, json=[report(rows[1]), report(rows[2], success=False)])
    assert later.get_data(as_text=True) == ACK
    fresh = _fresh(session, rows)
    assert [row.status for row in fresh] == [
        MessageStatus.DELIVERED,
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
    ]
    assert len(aliyun_sandbox.get("messages")) == 3  # nobody was sent anything twice


def test_a_batch_never_holds_a_number_twice_nor_more_than_alibaba_takes(
    aliyun_sandbox: AliyunSandbox,
) -> None:
    """One call of 205 rows: requests of at most 100, a number's second row in a later one,
    an OutId under 256 characters even when the ids are scattered; one answer a row."""
    provider = aliyun_sandbox.provider()
    scattered = [n * 7 + 100_000 for n in range(203)]  # no two ids adjacent: a long OutId
    messages = [
        OutboundSms(message_id, f"+86139{n:08d}", "开会", "broadcast", {"text": "开会"})
        for n, message_id in enumerate(scattered)
    ]
    messages += [
        OutboundSms(1, messages[0].to, "开会", "broadcast", {"text": "开会"}),
        OutboundSms(2, "+8613900000999", "x", "no_such_key", {}),
    ]
    answers = provider.send_batch(messages)

    assert len(answers) == len(messages)
    assert isinstance(answers[-1], ProviderError) and answers[-1].failure is Failure.REFUSED
    assert all(isinstance(answer, SentMessage) for answer in answers[:-1])
    assert len({answer.sid for answer in answers[:-1] if isinstance(answer, SentMessage)}) == 204
    stored = aliyun_sandbox.get("messages")
    per_request = Counter(m["biz_id"] for m in stored)
    assert max(per_request.values()) <= 100
    assert all(len(m["out_id"]) <= MAX_OUT_ID for m in stored)
    for m in stored:
        numbers = [s["to"] for s in stored if s["biz_id"] == m["biz_id"]]
        assert len(numbers) == len(set(numbers))
    assert Counter(m["to"] for m in stored)[messages[0].to.removeprefix("+86")] == 2


@pytest.mark.parametrize(
    "ids", [[5], [1, 2, 3], [3, 1, 2, 10, 12, 13], list(range(1000, 1100)), [7, 7, 8]]
)
def test_a_batch_out_id_names_exactly_its_rows(ids: list[int]) -> None:
    """The OutId lists the batch's ids as ranges and reads back as the same set."""
    out_id = batch_out_id(ids)
    assert out_id.startswith("b")
    assert batch_ids(out_id) == frozenset(ids)


@pytest.mark.parametrize("out_id", ["", "41", "b", "bx", "b1-", "b1-99999999", None])
def test_an_out_id_that_is_not_a_batch_of_ours_names_no_rows(out_id: str | None) -> None:
    """One row's OutId, nothing, or a range no batch could have (a made-up push)."""
    assert batch_ids(out_id) == frozenset()


def test_the_out_id_length_counted_step_by_step_is_the_written_one() -> None:
    """The batcher counts the OutId's length as ids join it (rising, with gaps, then out of
    order); each step's count is the length of the OutId written out."""
    rng = random.Random(20261202)
    for _ in range(500):
        counted, ids = _OutId(), []
        current = rng.randint(1, 10 ** rng.randint(1, 7))
        for _ in range(rng.randint(1, 60)):
            current += rng.choice([1, 1, 1, 2, 9])
            candidate = current if rng.random() < 0.8 else rng.randint(1, 10**6)
            if candidate in ids:
                continue
            assert counted.length_with(candidate) == len(batch_out_id([*ids, candidate]))
            counted.add(candidate)
            ids.append(candidate)
            assert counted.length == len(batch_out_id(ids))


def test_rows_sharing_one_parameters_object_are_each_resolved_by_their_own_template() -> None:
    from infra.providers.base import ResolvedTemplate, resolve_each

    asked: list[str | None] = []

    def one(sms: OutboundSms) -> ResolvedTemplate:
        asked.append(sms.template)
        if sms.template == "refused":
            raise ProviderError("no such template", code="template")
        return ResolvedTemplate(f"SMS_{sms.template}", None, dict(sms.params))

    shared = {"text": "通知"}
    rows = [
        OutboundSms(message_id=n, to=f"+8613900000{n:03d}", body="", template=key, params=shared)
        for n, key in enumerate(["notice", "notice", "reminder", "notice", "refused", "refused"])
    ]
    answers = resolve_each(rows, one)
    codes = [a.code if isinstance(a, ResolvedTemplate) else "error" for a in answers]
    assert codes == ["SMS_notice", "SMS_notice", "SMS_reminder", "SMS_notice", "error", "error"]
    assert asked == ["notice", "reminder", "refused"]  # each distinct template once
