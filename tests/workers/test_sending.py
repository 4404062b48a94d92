"""Sending the outbox through the real twilio client to a real sandbox process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import pytest
from flask import Flask
from redis import Redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db import get_session
from infra.providers import OutboundSms, ProviderError, SentMessage
from infra.providers.base import Failure
from models import Member, Message, MessageStatus, opt_out, utcnow
from models.outbox import queue_sms
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI
from tests.support import wait_until
from tests.workers.jobs import run_jobs, sent_to
from workers import outbox, sending
from workers.queues import HIGH
from workers.rates import sms_bucket


def _queue(session: Session, member: Member, text: str = "通知", essential: bool = False) -> int:
    message = queue_sms(
        session, template_key="broadcast", params={"text": text}, member=member, essential=essential
    )
    return message.id


def test_one_row_goes_out_once_with_its_sid_and_callback(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """A queued row is sent once, stored as sent with the provider's sid and our callback URL."""
    member = make_member(session)
    message_id = _queue(session, member, "开会通知")
    sending.enqueue_send(session, [message_id])
    assert work() == 1
    row = session.get(Message, message_id)
    assert row is not None
    got = sent_to(sandbox, member.phone)
    assert [m["body"] for m in got] == ["开会通知"]
    assert row.status is MessageStatus.SENT
    assert row.provider_sid == got[0]["sid"]
    assert got[0]["status_callback"] == f"https://gateway.example.org/status?id={message_id}"
    assert row.attempts == 1


def test_a_second_job_for_the_same_rows_sends_nothing(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int], redis_client: Redis
) -> None:
    """Two jobs over the same rows (a sweep and the original): each row reaches the provider once."""
    branch = make_tree(session)[1]
    members = [make_member(session, branch) for _ in range(6)]
    ids = [_queue(session, m) for m in members]
    session.commit()
    sending.enqueue_many(ids)
    sending.enqueue_many(ids)  # same job ids: still one job
    from workers.queues import DEFAULT, enqueue

    enqueue(sending.send_batch, ids, queue=DEFAULT)  # a different job over the same rows
    assert work() == 2
    assert sandbox.get("/_sandbox/count")["messages"] == 6
    statuses = session.scalars(select(Message.status).where(Message.id.in_(ids))).all()
    assert set(statuses) == {MessageStatus.SENT}


def test_racing_claims_take_each_row_once(session: Session, app: Flask) -> None:
    """Claims from many threads at once: every row is claimed by exactly one of them."""
    member = make_member(session)
    ids = [_queue(session, member, f"第{n}条") for n in range(30)]
    session.commit()
    won: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        with app.app_context():
            own = get_session()
            for message_id in ids:
                if sending.claim(own, message_id, utcnow()) is not None:
                    with lock:
                        won.append(message_id)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == ids


def test_opted_out_member_is_skipped_but_essential_text_still_goes(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """A STOP committed before the send wins: the notice is skipped, a phone code is not."""
    member = make_member(session)
    notice = _queue(session, member, "通知")
    code = _queue(session, member, "验证码", essential=True)
    opt_out(session, member)
    sending.enqueue_send(session, [notice, code])
    work()
    assert session.get(Message, notice).status is MessageStatus.SKIPPED  # type: ignore[union-attr]
    assert session.get(Message, code).status is MessageStatus.SENT  # type: ignore[union-attr]
    assert [m["body"] for m in sent_to(sandbox, member.phone)] == ["验证码"]


def test_stop_during_a_broadcast_stops_the_rest_for_that_member(
    app: Flask, session: Session, sandbox: SandboxAPI, redis_client: Redis
) -> None:
    """Members who opt out while a slow send is under way get nothing after their STOP commits."""
    branch = make_tree(session)[1]
    members = [make_member(session, branch) for _ in range(30)]
    ids = [_queue(session, m, "慢慢发") for m in members]
    sending.enqueue_send(session, ids)
    session.commit()
    late_ids = [m.id for m in members[-5:]]
    sandbox.fault(delay_ms=40)  # every send takes a while
    stopped = threading.Event()

    def members_text_stop() -> None:
        deadline = time.monotonic() + 20
        # Each look at the sandbox is a request: that is the pause between looks.
        while sandbox.get("/_sandbox/count")["messages"] < 3 and time.monotonic() < deadline:
            pass
        with app.app_context():
            own = get_session()
            for member_id in late_ids:
                member = own.get(Member, member_id)
                assert member is not None
                opt_out(own, member)
            own.commit()
        stopped.set()

    stopper = threading.Thread(target=members_text_stop)
    stopper.start()
    run_jobs(redis_client)
    stopper.join()
    assert stopped.is_set()
    session.expire_all()
    for member in members[-5:]:
        assert sent_to(sandbox, member.phone) == []
    skipped = session.scalars(
        select(Message.member_id).where(Message.status == MessageStatus.SKIPPED)
    ).all()
    assert sorted(skipped) == sorted(late_ids)
    assert sandbox.get("/_sandbox/count")["messages"] == 25


def test_transient_error_goes_back_to_queued_with_backoff_then_fails_on_the_third(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int], redis_client: Redis
) -> None:
    """A 500 puts the row back with a later attempt time and a scheduled retry; the third fails."""
    member = make_member(session)
    message_id = _queue(session, member)
    sandbox.fault(code=500)
    sending.enqueue_send(session, [message_id])
    work()
    row = session.get(Message, message_id)
    assert row is not None
    assert (row.status, row.attempts) == (MessageStatus.QUEUED, 1)
    assert row.next_attempt_at is not None and row.next_attempt_at > utcnow() + timedelta(
        seconds=20
    )
    scheduled = ScheduledJobRegistry(HIGH, connection=redis_client).get_job_ids()
    assert scheduled == [f"send-retry-{message_id}"]
    for attempt in (2, 3):
        row.next_attempt_at = utcnow() - timedelta(seconds=1)  # the backoff has passed
        session.commit()
        assert sending.send_message(message_id) in ("retry", "failed")
        session.expire_all()
        row = session.get(Message, message_id)
        assert row is not None and row.attempts == attempt
    assert (row.status, row.error_code) == (MessageStatus.FAILED, "20500")
    assert sandbox.get("/_sandbox/count")["messages"] == 0


def test_unsubscribed_and_invalid_numbers_fail_and_mark_the_member(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """21610 opts the member out; 21211 marks the number invalid; both rows fail with the code."""
    branch = make_tree(session)[1]
    stopped, invalid = make_member(session, branch), make_member(session, branch)
    sandbox.fault(to=stopped.phone, code=21610)
    sandbox.fault(to=invalid.phone, code=21211)
    ids = [_queue(session, stopped), _queue(session, invalid)]
    sending.enqueue_send(session, ids)
    work()
    rows = {m.member_id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
    assert (rows[stopped.id].status, rows[stopped.id].error_code) == (MessageStatus.FAILED, "21610")
    assert (rows[invalid.id].status, rows[invalid.id].error_code) == (MessageStatus.FAILED, "21211")
    assert session.get(Member, stopped.id).opted_out_at is not None  # type: ignore[union-attr]
    assert session.get(Member, invalid.id).phone_invalid_at is not None  # type: ignore[union-attr]


def test_rate_limited_send_slows_the_bucket_and_still_goes_once(
    app: object, session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """A 429 (20429) halves the shared rate and the row is sent once when the provider allows."""
    member = make_member(session)
    message_id = _queue(session, member)
    sandbox.fault(code=20429, count=1)
    sending.enqueue_send(session, [message_id])
    work()
    assert session.get(Message, message_id).status is MessageStatus.SENT  # type: ignore[union-attr]
    assert len(sent_to(sandbox, member.phone)) == 1
    assert sms_bucket().factor() == 0.5


def test_sweep_hands_on_rows_whose_job_was_lost(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int], redis_client: Redis
) -> None:
    """Rows committed while Redis lost their job are sent by the next sweep."""
    member = make_member(session)
    ids = [_queue(session, member, f"第{n}条") for n in range(3)]
    for row in session.scalars(select(Message).where(Message.id.in_(ids))):
        row.created_at = utcnow() - timedelta(minutes=5)
    session.commit()
    assert work() == 0  # nothing enqueued: as if Redis had been emptied
    outbox.sweep_outbox()
    outbox.sweep_outbox()  # a second sweep while the job waits adds nothing
    assert work() == 1
    assert sandbox.get("/_sandbox/count")["messages"] == 3


def _accepted(sms: OutboundSms) -> SentMessage:
    """A fake batch provider's answer for a row it took: sid SB<row id>."""
    return SentMessage(f"SB{sms.message_id}", sms.to, sms.body, MessageStatus.SENT, utcnow())


class _HeldBatches:
    """A batch provider (three rows a request) whose first request stays out until the run
    has claimed the next batch, or five seconds have passed; it notes which."""

    max_batch = 3

    def __init__(self, app: Flask, next_ids: list[int]) -> None:
        self.engine = app.extensions["db_engine"]
        self.next_ids = next_ids
        self.requests: list[list[int]] = []
        self.next_claimed_meanwhile: bool | None = None

    def _claimed(self) -> bool:
        with self.engine.connect() as connection:
            statuses = connection.execute(
                select(Message.status).where(Message.id.in_(self.next_ids))
            ).scalars()
            return all(status is MessageStatus.SENDING for status in statuses)

    def send_batch(self, messages: list[OutboundSms]) -> list[SentMessage]:
        self.requests.append([m.message_id for m in messages])
        if len(self.requests) == 1:
            try:
                wait_until(self._claimed, timeout=5)
                self.next_claimed_meanwhile = True
            except AssertionError:
                self.next_claimed_meanwhile = False
        return [_accepted(m) for m in messages]

    def send_sms(self, sms: OutboundSms) -> SentMessage:
        return _accepted(sms)


def test_a_batch_providers_next_batch_is_claimed_while_the_request_is_out(
    app: Flask, session: Session, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's work overlaps the provider's: with two requests' worth claimed at once
    (rows 1-6), rows 7-8 are claimed while the request with rows 1-3 is out. The requests
    still go in order, three rows each, each row once, every row marked sent."""
    monkeypatch.setattr(sending, "BATCH_CLAIM_ROWS", 6)
    branch = make_tree(session)[1]
    ids = [_queue(session, make_member(session, branch)) for _ in range(8)]
    session.commit()
    provider = _HeldBatches(app, ids[6:])
    run = sending.SendRun(
        session, provider=cast(Any, provider), bucket=sms_bucket(), redis=redis_client
    )
    assert run.send_all([(message_id, 1) for message_id in ids])
    assert provider.next_claimed_meanwhile is True
    assert provider.requests == [ids[:3], ids[3:6], ids[6:]]
    session.expire_all()
    rows = session.scalars(select(Message).where(Message.id.in_(ids))).all()
    assert {row.id: (row.status, row.provider_sid) for row in rows} == {
        message_id: (MessageStatus.SENT, f"SB{message_id}") for message_id in ids
    }


class _BusyFirst:
    """A batch provider (three rows a request) that says "too many" to its first request and
    takes every later one; it notes each request's rows."""

    max_batch = 3

    def __init__(self) -> None:
        self.requests: list[list[int]] = []

    def send_batch(self, messages: list[OutboundSms]) -> list[SentMessage | ProviderError]:
        self.requests.append([m.message_id for m in messages])
        if len(self.requests) == 1:
            busy = ProviderError("too many", failure=Failure.RATE_LIMITED)
            return [busy] * len(messages)
        return [_accepted(m) for m in messages]

    def send_sms(self, sms: OutboundSms) -> SentMessage:
        return _accepted(sms)


def test_a_claims_later_requests_wait_when_the_provider_says_too_many(
    app: Flask, session: Session, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six rows claimed together go in two requests; "too many" to the first holds the second
    back (it is not sent into the pause), and all six are sent again after the pause, once."""
    monkeypatch.setattr(sending, "BATCH_CLAIM_ROWS", 6)
    branch = make_tree(session)[1]
    ids = [_queue(session, make_member(session, branch)) for _ in range(6)]
    session.commit()
    provider = _BusyFirst()
    bucket = sms_bucket()
    monkeypatch.setattr(bucket, "slow_down", lambda *args, **kwargs: 1.0)  # no real pause
    run = sending.SendRun(session, provider=cast(Any, provider), bucket=bucket, redis=redis_client)

    assert run.send_all([(message_id, 1) for message_id in ids])

    assert provider.requests == [ids[:3], ids[:3], ids[3:]]
    assert {run.outcomes[message_id] for message_id in ids} == {"sent"}
    session.expire_all()
    attempts = session.scalars(select(Message.attempts).where(Message.id.in_(ids))).all()
    assert attempts == [1] * 6  # "too many" is not an attempt
