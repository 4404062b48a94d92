"""`flask phone sms` and `flask phone outbox` under the mainland providers (aliyun, tencent).

A text is the provider's push to the app's push address; the answer is a template SMS sent
by a real worker through the sandbox, which the command waits for and prints as the member
reads it. Each test runs under both providers, against a sandbox process and the app served
where that sandbox pushes its receipts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from redis import Redis
from rq import Worker
from sqlalchemy import select
from sqlalchemy.orm import Session

from devtools.phone import member_text
from devtools.servers import free_port
from infra.providers.base import TEMPLATE_BOOK_KEY
from models import Direction, Member, Message, Organization, ProviderPush, Report
from models.caps import DAILY_CAP_KEY, HoldReason
from tests.factories import make_member, make_tree
from tests.gateway import aliyun_sandbox as aliyun_support
from tests.gateway import tencent_support
from tests.gateway.aliyun_sandbox import AliyunSandbox
from tests.live_server import serve
from tests.rq_worker import running_worker
from tests.support import wait_until

PHONE = "+8613800000001"
PROVIDERS = ("aliyun", "tencent")


@dataclass
class Mainland:
    """One mainland provider's sandbox, the app settings that reach it, and the app's port."""

    provider: str
    settings: dict[str, Any]
    app_port: int
    sign_name: str


@pytest.fixture(scope="module")
def tencent_side(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A sandbox speaking Tencent's API, pushing to a port kept for the app."""
    port = free_port()
    path = tmp_path_factory.mktemp("tencent-phone") / "sandbox.db"
    with tencent_support.tencent_sandbox(path, push_base=f"http://127.0.0.1:{port}/cn") as url:
        yield url, port


@pytest.fixture(params=PROVIDERS)
def mainland(request: pytest.FixtureRequest) -> Iterator[Mainland]:
    """Each mainland provider in turn, its sandbox records cleared around the test."""
    if request.param == "aliyun":
        sandbox: AliyunSandbox = request.getfixturevalue("aliyun_sandbox_server")
        sandbox.reset()
        yield Mainland("aliyun", sandbox.settings(), sandbox.app_port, aliyun_support.SIGN_NAME)
        sandbox.reset()
        return
    url, port = request.getfixturevalue("tencent_side")
    api = tencent_support.TencentSandboxAPI(url)
    api.reset()
    yield Mainland("tencent", tencent_support.tencent_config(url), port, tencent_support.SIGN_NAME)
    api.reset()
    api.http.close()


@pytest.fixture
def app_config(app_config: dict[str, Any], mainland: Mainland) -> dict[str, Any]:
    # The registry's template book, as in production (the worker process reads no test book);
    # DEBUG keeps the development pages, as in test_cn_aliyun.
    settings = {k: v for k, v in mainland.settings.items() if k != TEMPLATE_BOOK_KEY}
    return {**app_config, **settings, "DEBUG": True}


@pytest.fixture
def live_url(app: Flask, mainland: Mainland) -> Iterator[str]:
    """The app served where the sandbox pushes its receipts."""
    with serve(app, port=mainland.app_port) as url:
        yield url


@pytest.fixture
def member(session: Session) -> Member:
    """A registered member."""
    _, branch, _ = make_tree(session)
    found = make_member(session, branch, phone=PHONE, name="王芳")
    session.commit()
    return found


def fresh(session: Session) -> Session:
    """The test's session seeing what the app and the worker committed."""
    session.rollback()
    session.expire_all()
    return session


def test_a_report_by_text_is_stored_and_its_receipt_printed_as_the_member_reads_it(
    runner: FlaskCliRunner,
    app_config: dict[str, Any],
    redis_client: Redis,
    session: Session,
    member: Member,
    mainland: Mainland,
    live_url: str,
) -> None:
    """`phone sms 13800000001 "HB 1"` pushes the text as the provider would; a worker stores
    the report and sends the receipt as a template SMS, which the command prints with the
    signature; `outbox --json` lists it with its template code, signature and parameters."""
    with running_worker(app_config):
        wait_until(lambda: Worker.count(connection=redis_client) > 0, timeout=30)
        result = runner.invoke(args=["phone", "sms", "13800000001", "HB 1", "--url", live_url])
    assert result.exit_code == 0, result.output
    db = fresh(session)
    report = db.scalars(select(Report)).one()
    assert report.member_id == member.id
    [push] = db.scalars(
        select(ProviderPush).where(
            ProviderPush.provider == mainland.provider,
            ProviderPush.feed.in_(("sms-up", "sms-reply")),
        )
    )
    assert push.handled_at is not None
    inbound = db.scalars(select(Message).where(Message.direction == Direction.IN)).one()
    assert inbound.provider_sid == f"{mainland.provider}:{push.key}"[:64]
    assert inbound.body == "HB 1"
    reply = db.scalars(select(Message).where(Message.direction == Direction.OUT)).one()
    assert reply.template_key is not None and reply.provider_sid is not None
    assert report.receipt in reply.body
    assert result.output.strip() == f"【{mainland.sign_name}】{reply.body}"

    listed = runner.invoke(args=["phone", "outbox", "--to", "13800000001", "--json"])
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.output)
    assert {"sid", "to", "body", "status", "created_at"} <= set(entry)
    assert (entry["to"], entry["body"], entry["message_id"]) == (
        PHONE,
        result.output.strip(),
        reply.id,
    )
    assert entry["status"] in ("sent", "delivered")
    # Against the sandbox a template not approved yet is sent under its own name.
    assert entry["template_code"] == reply.template_key
    assert entry["sign_name"] == mainland.sign_name
    params = entry["params"]
    assert report.receipt in (params.values() if isinstance(params, dict) else params)
    assert isinstance(params, dict if mainland.provider == "aliyun" else list)

    plain = runner.invoke(args=["phone", "outbox", "--to", PHONE])
    assert plain.exit_code == 0, plain.output
    assert plain.output.strip().endswith(f"{entry['body']}  [{reply.template_key}]")


def test_an_answer_over_the_days_cap_is_shown_held_with_its_reason(
    runner: FlaskCliRunner,
    app_config: dict[str, Any],
    redis_client: Redis,
    session: Session,
    member: Member,
    live_url: str,
) -> None:
    """With a cap of one text a day, the second answer waits for tomorrow: the command says
    so, with the time it goes and why, instead of waiting for it."""
    township = session.scalars(select(Organization).where(Organization.parent_id.is_(None))).first()
    assert township is not None
    township.settings = {**(township.settings or {}), DAILY_CAP_KEY: 1}
    session.commit()
    with running_worker(app_config):
        wait_until(lambda: Worker.count(connection=redis_client) > 0, timeout=30)
        first = runner.invoke(args=["phone", "sms", PHONE, "?", "--url", live_url])
        second = runner.invoke(args=["phone", "sms", PHONE, "XX", "--url", live_url])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("【")
    assert second.exit_code == 0, second.output
    held = fresh(session).scalars(select(Message).where(Message.hold_reason.is_not(None))).one()
    assert held.hold_reason is HoldReason.DAILY_CAP
    assert second.output.startswith("(held until ") and "Beijing time: daily_cap)" in second.output
    assert second.output.strip().endswith(held.body)


def test_without_a_worker_the_command_says_why_no_answer_came(
    runner: FlaskCliRunner, session: Session, member: Member, mainland: Mainland, live_url: str
) -> None:
    """The text is taken (the app acknowledged it), but nobody answers it: the command says a
    worker is needed instead of waiting for nothing."""
    result = runner.invoke(args=["phone", "sms", PHONE, "HB 1", "--url", live_url])
    assert result.exit_code == 1, result.output
    assert "no rq worker is running" in result.output
    assert "Traceback" not in result.output
    [push] = fresh(session).scalars(select(ProviderPush))
    assert (push.provider, push.handled_at) == (mainland.provider, None)


@pytest.mark.parametrize(
    ("number", "text", "says"),
    [
        ("abc", "HB 1", "not a mainland mobile number"),
        ("12345", "HB 1", "not a mainland mobile number"),
        ("+14155550100", "HB 1", "not a mainland mobile number"),
        ("13800000001", "", "the text is empty"),
        ("13800000001", "   ", "the text is empty"),
    ],
)
def test_bad_input_gets_a_clear_message_and_nothing_is_pushed(
    runner: FlaskCliRunner,
    session: Session,
    mainland: Mainland,
    live_url: str,
    number: str,
    text: str,
    says: str,
) -> None:
    """A number the provider cannot push from, or an empty text: a usage error, no push."""
    result = runner.invoke(args=["phone", "sms", number, text, "--url", live_url])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert fresh(session).scalars(select(ProviderPush)).all() == []


def test_without_a_push_secret_the_command_says_the_addresses_are_off(
    runner: FlaskCliRunner, app: Flask, mainland: Mainland, live_url: str
) -> None:
    """CN_CALLBACK_SECRET unset: no text can reach the app, and the command says so."""
    app.config["CN_CALLBACK_SECRET"] = ""
    result = runner.invoke(args=["phone", "sms", PHONE, "HB 1", "--url", live_url])
    assert result.exit_code == 1
    assert "CN_CALLBACK_SECRET is not set" in result.output


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_sent_template_reads_as_signature_and_filled_text(provider: str) -> None:
    """Parameters by name (Alibaba) or by position (Tencent) fill the registry's text; a code
    the registry does not know shows its parameters as they were sent."""
    params: Any = (
        {"name": "王芳", "month": "11", "receipt": "K7M2QX"}
        if provider == "aliyun"
        else ["王芳", "11", "K7M2QX"]
    )
    text = member_text(provider, "report_done", "青山镇", params)
    assert text == "【青山镇】王芳您好,11月汇报已收到,回执K7M2QX。谢谢!"
    unknown = member_text(provider, "SMS_000", "青山镇", params)
    assert unknown == f"【青山镇】SMS_000 {json.dumps(params, ensure_ascii=False)}"
