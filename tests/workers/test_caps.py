"""Per-number caps before sending: the mainland providers' limits, held to by every worker.

Texts run through the real sending job to a real sandbox, counted in a real Redis, at moments
the test sets; the township's settings give the caps (the sandbox itself caps nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from infra.db import get_session
from models import Member, Message, MessageStatus, Organization, utcnow
from models.broadcast import row_facts
from models.caps import (
    DAILY_CAP_KEY,
    SAME_CONTENT_KEY,
    HoldReason,
    SendCaps,
    caps_for,
    check_caps,
    provider_day,
)
from models.outbox import queue_sms
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI
from tests.workers.jobs import sent_to
from workers import sending
from workers.caps import CapGate

# 10:00 in Beijing on a Tuesday; the township's window is the default 19:00-21:30.
MORNING = datetime(2027, 3, 9, 2, 0, tzinfo=UTC)
NEXT_EVENING = datetime(2027, 3, 10, 11, 0, tzinfo=UTC)  # 19:00 Beijing the next day


@pytest.fixture
def township_member(session: Session) -> Iterator[tuple[Organization, Member]]:
    township, branch, _ = make_tree(session)
    township.settings = {**(township.settings or {}), DAILY_CAP_KEY: 2, SAME_CONTENT_KEY: 30}
    member = make_member(session, branch)
    session.commit()
    yield township, member


def _queue(session: Session, member: Member, text: str) -> int:
    message = queue_sms(
        session, template_key="broadcast", params={"text": text}, member=member, at=MORNING
    )
    session.commit()
    return message.id


def _send(session: Session, ids: list[int], at: datetime) -> dict[int, str]:
    sender = sending.make_sender(session, now=at)
    sender.send_all([(message_id, 1) for message_id in ids])
    return {message_id: sender.outcomes.get(message_id, "") for message_id in ids}


def _row(session: Session, message_id: int) -> Message:
    session.expire_all()
    row = session.get(Message, message_id)
    assert row is not None
    return row


def test_a_third_text_in_a_day_waits_for_the_next_days_window(
    session: Session, sandbox: SandboxAPI, township_member: tuple[Organization, Member]
) -> None:
    """Cap 2: two go; the third waits, saying why, until 19:00 Beijing the next day."""
    _, member = township_member
    ids = [_queue(session, member, f"第{n}条通知") for n in range(3)]

    assert list(_send(session, ids, MORNING).values()) == ["sent", "sent", "held"]

    held = _row(session, ids[2])
    assert (held.status, held.hold_reason) == (MessageStatus.QUEUED, HoldReason.DAILY_CAP)
    assert held.next_attempt_at == NEXT_EVENING
    assert len(sent_to(sandbox, member.phone)) == 2
    # The next day it goes, and the reason is cleared.
    assert _send(session, [ids[2]], NEXT_EVENING) == {ids[2]: "sent"}
    sent = _row(session, ids[2])
    assert (sent.status, sent.hold_reason) == (MessageStatus.SENT, None)


def test_the_same_text_twice_within_the_interval_waits_it_out(
    session: Session, sandbox: SandboxAPI, township_member: tuple[Organization, Member]
) -> None:
    """No identical content within 30 s: the second copy waits about 30 s, then goes."""
    _, member = township_member
    first, second = _queue(session, member, "开会"), _queue(session, member, "开会")

    assert _send(session, [first, second], MORNING) == {first: "sent", second: "held"}

    held = _row(session, second)
    assert held.hold_reason is HoldReason.SAME_CONTENT
    assert held.next_attempt_at is not None
    assert timedelta(seconds=20) < held.next_attempt_at - MORNING <= timedelta(seconds=31)


def test_a_text_the_provider_refused_gives_its_place_back(
    session: Session, sandbox: SandboxAPI, township_member: tuple[Organization, Member]
) -> None:
    """Only accepted texts count: after a refusal two more still go the same day."""
    _, member = township_member
    sandbox.fault(to=member.phone, code=21408, count=1)  # a permanent refusal, once
    ids = [_queue(session, member, f"第{n}条") for n in range(3)]

    assert _send(session, ids[:1], MORNING) == {ids[0]: "failed"}
    assert list(_send(session, ids[1:], MORNING).values()) == ["sent", "sent"]


def test_the_count_starts_from_the_database_when_redis_forgot_it(
    session: Session,
    sandbox: SandboxAPI,
    redis_client: Redis,
    township_member: tuple[Organization, Member],
) -> None:
    """Redis restarted empty mid-day: the two texts already accepted still count (sent now,
    by the real clock, as the database records when the provider took them)."""
    _, member = township_member
    ids = [_queue(session, member, f"第{n}条") for n in range(3)]
    now = utcnow()
    assert set(_send(session, ids[:2], now).values()) == {"sent"}
    redis_client.flushdb()

    assert _send(session, [ids[2]], now) == {ids[2]: "held"}


def test_workers_racing_to_one_number_send_no_more_than_the_cap(
    app: Flask, session: Session, sandbox: SandboxAPI, township_member: tuple[Organization, Member]
) -> None:
    """Four senders at once over six texts to one number: exactly two reach the provider."""
    _, member = township_member
    ids = [_queue(session, member, f"第{n}条") for n in range(6)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def sender(share: list[int]) -> None:
        with app.app_context():
            result = _send(get_session(), share, MORNING)
            with lock:
                outcomes.extend(result.values())

    threads = [threading.Thread(target=sender, args=(ids[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes).count("sent") == 2
    assert len(sent_to(sandbox, member.phone)) == 2
    held = session.scalars(
        select(Message.hold_reason).where(
            Message.id.in_(ids), Message.status == MessageStatus.QUEUED
        )
    ).all()
    assert held == [HoldReason.DAILY_CAP] * 4


def test_a_township_without_caps_under_twilio_sends_everything(
    session: Session, sandbox: SandboxAPI
) -> None:
    """Twilio (and its sandbox) cap nothing per number: no setting, no hold."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    ids = [_queue(session, member, "同一条") for _ in range(4)]
    assert set(_send(session, ids, MORNING).values()) == {"sent"}


def test_each_provider_has_its_caps_and_a_township_may_set_its_own() -> None:
    assert caps_for("tencent") == SendCaps(daily=2, same_content_seconds=30)
    assert caps_for("aliyun") == SendCaps(daily=10, same_content_seconds=30)
    assert not caps_for("twilio").any and not caps_for("sandbox").any
    assert caps_for("tencent", {DAILY_CAP_KEY: 5}) == SendCaps(daily=5, same_content_seconds=30)
    assert caps_for("aliyun", {DAILY_CAP_KEY: 0, SAME_CONTENT_KEY: 0}) == SendCaps()


@pytest.mark.parametrize(
    ("daily", "same", "expected"),
    [
        ("3", "60", {DAILY_CAP_KEY: 3, SAME_CONTENT_KEY: 60}),
        ("", " ", {DAILY_CAP_KEY: None, SAME_CONTENT_KEY: None}),
        ("0", "0", {DAILY_CAP_KEY: 0, SAME_CONTENT_KEY: 0}),
    ],
)
def test_cap_settings_from_a_form(daily: str, same: str, expected: dict[str, int | None]) -> None:
    assert check_caps(daily, same) == expected


@pytest.mark.parametrize(
    ("daily", "same"), [("-1", ""), ("２", ""), ("", "x"), ("1001", ""), ("", "86401")]
)
def test_cap_settings_out_of_range_name_the_field(daily: str, same: str) -> None:
    with pytest.raises(ValueError):
        check_caps(daily, same)


def test_the_providers_day_is_beijings() -> None:
    """15:59 UTC is 23:59 in Beijing (that day); 16:00 UTC is the next day."""
    day, tomorrow = provider_day(datetime(2027, 3, 9, 15, 59, tzinfo=UTC))
    assert (day, tomorrow) == ("20270309", datetime(2027, 3, 9, 16, 0, tzinfo=UTC))
    assert provider_day(datetime(2027, 3, 9, 16, 0, tzinfo=UTC))[0] == "20270310"


def test_the_days_counts_are_read_from_the_database_once_a_day_not_once_a_number(
    session: Session, sandbox: SandboxAPI, township_member: tuple[Organization, Member]
) -> None:
    """A notice to many numbers, sent by two jobs: the day's counts come from the database
    once, at the day's first text (a notice to 100,000 would otherwise read the outbox for
    each number); the next day they are read once again."""
    _, member = township_member
    branch = session.get(Organization, member.branch_id)
    members = [member, *(make_member(session, branch) for _ in range(29))]
    session.commit()
    counting: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "count(" in statement.lower() and "messages" in statement:
            counting.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        first = _send(session, [_queue(session, each, "开会") for each in members[:15]], MORNING)
        second = _send(session, [_queue(session, each, "开会") for each in members[15:]], MORNING)
        assert len(counting) == 1
        later = _send(session, [_queue(session, member, "散会")], NEXT_EVENING)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert set(first.values()) == set(second.values()) == set(later.values()) == {"sent"}
    assert len(counting) == 2


def test_loading_the_day_keeps_a_count_redis_already_holds(
    session: Session,
    sandbox: SandboxAPI,
    redis_client: Redis,
    township_member: tuple[Organization, Member],
) -> None:
    """A worker's count, newer than the database's, is not overwritten when the day is loaded
    again: one text recorded, two counted (another worker's text not yet recorded), so the
    next one waits under the cap of 2."""
    _, member = township_member
    now = utcnow()  # the database records when the provider took a text by the real clock
    day, _ = provider_day(now)
    first, second = _queue(session, member, "开会"), _queue(session, member, "散会")
    assert _send(session, [first], now) == {first: "sent"}
    redis_client.delete(f"caps:loaded:{day}")
    redis_client.set(f"caps:day:{member.phone}:{day}", 2)

    assert _send(session, [second], now) == {second: "held"}
    assert redis_client.exists(f"caps:loaded:{day}")
    assert len(sent_to(sandbox, member.phone)) == 1


def test_a_place_given_back_after_redis_lost_the_count_makes_no_count(
    session: Session, redis_client: Redis, township_member: tuple[Organization, Member]
) -> None:
    """Redis emptied between a text's take and its give-back: the count is not made again
    at -1 (with no lifetime), which the day's next load would keep as newer than its own."""
    _, member = township_member
    message_id = _queue(session, member, "开会")
    gate = CapGate(session, redis_client, "aliyun")
    gate.know(row_facts(session, [message_id]))
    assert gate.take_many([message_id], MORNING) == {}
    redis_client.flushdb()

    gate.give_back(message_id)

    assert redis_client.keys("caps:*") == []


def test_a_count_lost_from_redis_mid_job_is_read_again_with_the_jobs_own_texts(
    session: Session,
    sandbox: SandboxAPI,
    redis_client: Redis,
    township_member: tuple[Organization, Member],
) -> None:
    """The same job sends one text, Redis is emptied, and two more wait to go: the count is
    read again (with the text this job sent), so only one of them goes under the cap of 2."""
    _, member = township_member
    ids = [_queue(session, member, f"第{n}条") for n in range(3)]
    now = utcnow()
    sender = sending.make_sender(session, now=now)
    sender.send_all([(ids[0], 1)])
    redis_client.flushdb()
    sender.send_all([(ids[1], 1), (ids[2], 1)])

    assert [sender.outcomes[i] for i in ids] == ["sent", "sent", "held"]
