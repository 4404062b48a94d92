"""POST /cn/<provider>/<feed>/<secret>: the machinery every mainland provider's pushes share.

A feed of delivery receipts in a plain shape stands in for a provider's here; the providers'
own feeds have their tests beside their modules. Real HTTP through the app, on both databases.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from flask import Flask, Response, jsonify
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.cn_push import BadBatch, BadItem, PushItem, register_feed
from infra.providers import Receipt
from models import Member, Message, MessageStatus, ProviderPush
from models.delivery import record_receipt
from models.outbox import queue_sms
from tests.factories import make_member

SECRET = "push-secret-" + "7" * 20
URL = f"/cn/test/receipts/{SECRET}"


class ReceiptFeed:
    """Receipts as `[{"sid": ..., "to": ..., "status": "delivered"}]`, acknowledged as `OK`."""

    provider = "test"
    name = "receipts"

    def batch(self, body: Any) -> list[Any]:
        if not isinstance(body, list):
            raise BadBatch("not a list")
        return body

    def read(self, raw: Any) -> PushItem:
        if (
            not isinstance(raw, dict)
            or not raw.get("sid")
            or raw.get("status")
            not in (
                "delivered",
                "failed",
                "explode",
            )
        ):
            raise BadItem("no sid or status")
        return PushItem(key=f"{raw['sid']}:{raw['status']}", payload=raw)

    def apply(self, session: Session, push: ProviderPush, item: PushItem, now: datetime) -> None:
        if item.payload["status"] == "explode":
            raise RuntimeError("cannot act on this one")
        receipt = Receipt(
            sid=item.payload["sid"],
            delivery=MessageStatus(item.payload["status"]),
            to=item.payload.get("to", ""),
        )
        record_receipt(session, receipt, now)

    def answer(self, problems: list[str]) -> Response:
        return jsonify({"result": 0 if not problems else 1, "errmsg": "; ".join(problems) or "OK"})


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "CN_CALLBACK_SECRET": SECRET}


@pytest.fixture
def feed(app: Flask) -> ReceiptFeed:
    feed = ReceiptFeed()
    register_feed(app, feed)
    return feed


def _sent(session: Session, member: Member) -> Message:
    message = queue_sms(session, template_key="broadcast", params={"text": "通知"}, member=member)
    message.status = MessageStatus.SENT
    message.provider_sid = "cn-" + uuid.uuid4().hex
    session.commit()
    return message


def _post(client: FlaskClient, body: Any, url: str = URL, **kwargs: Any) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **kwargs)


def _pushes(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(ProviderPush)) or 0


def _status(session: Session, message: Message) -> MessageStatus:
    session.expire_all()
    return session.get(Message, message.id).status  # type: ignore[union-attr]


def test_a_receipt_is_stored_acted_on_and_acknowledged(
    client: FlaskClient, session: Session, feed: ReceiptFeed
) -> None:
    """Each item is kept with its payload, moves its message, and the answer is the feed's."""
    message = _sent(session, make_member(session))
    response = _post(client, [{"sid": message.provider_sid, "status": "delivered"}])
    assert (response.status_code, response.get_json()) == (200, {"result": 0, "errmsg": "OK"})
    assert _status(session, message) is MessageStatus.DELIVERED
    [push] = session.scalars(select(ProviderPush)).all()
    assert (push.provider, push.feed, push.payload["sid"]) == (
        "test",
        "receipts",
        message.provider_sid,
    )
    assert push.handled_at is not None and push.error is None


def test_a_repeated_push_is_acknowledged_and_changes_nothing(
    client: FlaskClient, session: Session, feed: ReceiptFeed
) -> None:
    """The provider retries a batch, or sends an item twice: one row, one status move."""
    message = _sent(session, make_member(session))
    item = {"sid": message.provider_sid, "status": "failed"}
    for _ in range(3):
        assert _post(client, [item, item]).get_json()["result"] == 0
    assert _pushes(session) == 1
    assert _status(session, message) is MessageStatus.FAILED


@pytest.mark.parametrize("secret", ["wrong", SECRET + "x", SECRET[:-1]])
def test_a_wrong_secret_is_a_404_that_stores_nothing(
    client: FlaskClient, session: Session, feed: ReceiptFeed, secret: str
) -> None:
    message = _sent(session, make_member(session))
    response = _post(
        client,
        [{"sid": message.provider_sid, "status": "delivered"}],
        f"/cn/test/receipts/{secret}",
    )
    assert response.status_code == 404
    assert _pushes(session) == 0 and _status(session, message) is MessageStatus.SENT


def test_without_a_secret_set_the_addresses_are_off(
    app: Flask, client: FlaskClient, session: Session, feed: ReceiptFeed
) -> None:
    app.config["CN_CALLBACK_SECRET"] = ""
    assert _post(client, [], "/cn/test/receipts/").status_code == 404
    assert _post(client, []).status_code == 404


def test_an_unknown_feed_is_a_404(client: FlaskClient, feed: ReceiptFeed) -> None:
    assert _post(client, [], f"/cn/test/nothing/{SECRET}").status_code == 404


@pytest.mark.parametrize("body", [b"{not json", b"", '"a string"', {"sid": "x"}, b"\xff\xfe"])
def test_a_malformed_batch_is_a_400_that_stores_nothing(
    client: FlaskClient, session: Session, feed: ReceiptFeed, body: Any
) -> None:
    response = _post(client, body)
    assert response.status_code == 400
    assert response.get_json()["result"] == 1
    assert _pushes(session) == 0


def test_a_bad_item_is_named_and_the_good_ones_are_kept(
    client: FlaskClient, session: Session, feed: ReceiptFeed
) -> None:
    """Item 2 has no sid: items 1 and 3 are stored and acted on, the answer names #2."""
    first, third = (_sent(session, make_member(session)) for _ in range(2))
    response = _post(
        client,
        [
            {"sid": first.provider_sid, "status": "delivered"},
            {"status": "delivered"},
            {"sid": third.provider_sid, "status": "failed"},
        ],
    )
    assert response.status_code == 200
    assert response.get_json() == {"result": 1, "errmsg": "#2: no sid or status"}
    assert _pushes(session) == 2
    assert (_status(session, first), _status(session, third)) == (
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
    )


def test_an_item_that_fails_to_act_is_kept_with_its_error(
    client: FlaskClient, session: Session, feed: ReceiptFeed
) -> None:
    """Nothing accepted is lost: the failing item is stored with why; the others still act."""
    message = _sent(session, make_member(session))
    response = _post(
        client,
        [
            {"sid": "cn-x", "status": "explode"},
            {"sid": message.provider_sid, "status": "delivered"},
        ],
    )
    assert response.get_json()["result"] == 0
    session.expire_all()
    pushes = {p.payload["status"]: p for p in session.scalars(select(ProviderPush))}
    assert pushes["explode"].error == "RuntimeError: cannot act on this one"
    assert pushes["explode"].handled_at is None
    assert pushes["delivered"].handled_at is not None
    assert _status(session, message) is MessageStatus.DELIVERED


def test_only_the_allowed_addresses_may_push(
    app: Flask, client: FlaskClient, session: Session, feed: ReceiptFeed
) -> None:
    """With CN_CALLBACK_ALLOW set, another address gets a 404 and stores nothing."""
    message = _sent(session, make_member(session))
    item = [{"sid": message.provider_sid, "status": "delivered"}]
    app.config["CN_CALLBACK_ALLOW"] = "100.104.0.0/16, 10.0.0.7"
    assert _post(client, item, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404
    assert _pushes(session) == 0
    assert _post(client, item, environ_base={"REMOTE_ADDR": "100.104.3.9"}).status_code == 200
    assert _status(session, message) is MessageStatus.DELIVERED
