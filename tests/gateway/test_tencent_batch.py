"""The outbox under PROVIDER=tencent: rows with the same parameters go in one SendSms.

Tencent's SendSms takes up to 200 numbers with one template and one set of parameters and
answers with a SendStatus (and a SerialNo) per number; every test runs through the sandbox
process, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.providers import Failure, OutboundSms, ProviderError, SentMessage
from models import Member, Message, MessageStatus
from models.outbox import queue_sms
from tests.factories import make_member, make_tree, open_window_now
from tests.gateway.tencent_support import (
    TencentSandboxAPI,
    provider,
    tencent_config,
    tencent_sandbox,
)
from workers import sending


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tencent_sandbox(tmp_path_factory.mktemp("tencent-batch") / "sandbox.db") as url:
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
    return {**app_config, **tencent_config(sandbox_url), "SEND_RATE_SEGMENTS_PER_S": 10_000.0}


def _members(session: Session, count: int) -> list[Member]:
    township, east, west = make_tree(session)
    open_window_now(township)
    members = [make_member(session, east if n % 2 else west) for n in range(count)]
    session.commit()
    return members


def _fresh(session: Session, rows: list[Message]) -> list[Message]:
    session.expire_all()
    ids = [row.id for row in rows]
    found = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
    return [found[message_id] for message_id in ids]


def test_a_notice_goes_in_one_request_and_each_row_keeps_its_numbers_serial(
    session: Session, tencent_api: TencentSandboxAPI
) -> None:
    """Five rows of one notice: one SendSms of five numbers; another text (other parameters)
    in a request of its own; each row's sid is its number's SerialNo."""
    members = _members(session, 6)
    notice = [
        queue_sms(session, template_key="broadcast", params={"text": "开会"}, member=member)
        for member in members[:5]
    ]
    other = queue_sms(session, template_key="broadcast", params={"text": "另"}, member=members[5])
    session.commit()

    counts = sending.send_batch([row.id for row in (*notice, other)])

    assert counts["sent"] == 6
    sent = tencent_api.sms()
    requests = Counter(m["session_context"] for m in sent)
    assert sorted(requests.values()) == [1, 5]
    by_number = {m["to"]: m for m in sent}
    for row in _fresh(session, [*notice, other]):
        assert row.status is MessageStatus.SENT
        assert row.provider_sid == by_number[row.phone]["serial_no"]


def test_a_number_refused_in_the_request_fails_only_its_row(
    session: Session, tencent_api: TencentSandboxAPI
) -> None:
    """Tencent refuses one number in its SendStatus: that row fails with the code (its
    member's number marked invalid), the others are sent."""
    members = _members(session, 3)
    tencent_api.rule(to=members[1].phone, code="InvalidParameterValue.IncorrectPhoneNumber")
    rows = [
        queue_sms(session, template_key="broadcast", params={"text": "开会"}, member=member)
        for member in members
    ]
    session.commit()

    sending.send_batch([row.id for row in rows])

    fresh = _fresh(session, rows)
    assert [row.status for row in fresh] == [
        MessageStatus.SENT,
        MessageStatus.FAILED,
        MessageStatus.SENT,
    ]
    assert fresh[1].error_code == "InvalidParameterValue.IncorrectPhoneNumber"
    assert len({m["session_context"] for m in tencent_api.sms()}) == 1
    member = session.get(Member, members[1].id)
    assert member is not None and member.phone_invalid_at is not None


def test_requests_hold_up_to_200_numbers_none_twice(
    sandbox_url: str, tencent_api: TencentSandboxAPI
) -> None:
    """450 rows of one notice, one number twice, one without a template: three requests
    (200, 200, 50) and the repeat in another; one answer a row, in order."""
    messages = [
        OutboundSms(n + 1, f"+86139{n:08d}", "开会", "broadcast", {"text": "开会"})
        for n in range(449)
    ]
    messages.insert(10, OutboundSms(900, messages[3].to, "开会", "broadcast", {"text": "开会"}))
    messages.append(OutboundSms(901, "+8613900099999", "x", "no_such_key", {}))

    answers = provider(sandbox_url).send_batch(messages)

    assert len(answers) == len(messages)
    assert isinstance(answers[-1], ProviderError) and answers[-1].failure is Failure.REFUSED
    sent = [answer for answer in answers[:-1] if isinstance(answer, SentMessage)]
    assert [answer.to for answer in sent] == [m.to for m in messages[:-1]]
    per_request = Counter(m["session_context"] for m in tencent_api.sms())
    assert sorted(per_request.values()) == [50, 200, 200]
    assert len({answer.sid for answer in sent}) == 450
