"""The sandbox's pace (429 / 20429 above it) and its inbound texts (a member texting in)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from devtools.sandbox import create_sandbox_app
from tests.gateway.sandbox_api import SANDBOX_ACCOUNT, SANDBOX_TOKEN, SandboxAPI, WebhookReceiver

MEMBER = "+8613700137000"
HOTLINE = "+8610690000"
MESSAGES = f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT}/Messages.json"
AUTH = {
    "Authorization": "Basic "
    + base64.b64encode(f"{SANDBOX_ACCOUNT}:{SANDBOX_TOKEN}".encode()).decode()
}


@pytest.fixture
def local(tmp_path: Path) -> Iterator[FlaskClient]:
    """A sandbox app on its own store, driven in-process, with callbacks off."""
    app: Flask = create_sandbox_app(str(tmp_path / "sandbox.db"), SANDBOX_TOKEN, SANDBOX_ACCOUNT)
    app.config["TESTING"] = True
    client = app.test_client()
    assert client.post("/_sandbox/faults", json={"callbacks": False}).status_code == 201
    yield client


def send(client: FlaskClient, body: str = "hello") -> Any:
    return client.post(MESSAGES, data={"To": MEMBER, "From": HOTLINE, "Body": body}, headers=AUTH)


def test_without_a_pace_every_message_is_taken(local: FlaskClient) -> None:
    assert local.get("/_sandbox/pace").get_json() == {"segments_per_s": 0.0, "burst": 0.0}
    assert all(send(local).status_code == 201 for _ in range(30))


def test_above_the_pace_twilio_answers_429_20429(local: FlaskClient) -> None:
    """A burst of 3 at 1 segment a second: three go, the fourth is refused as Twilio does."""
    answer = local.put("/_sandbox/pace", json={"segments_per_s": 1, "burst": 3})
    assert answer.status_code == 200
    assert answer.get_json() == {"segments_per_s": 1.0, "burst": 3.0}
    assert [send(local).status_code for _ in range(3)] == [201, 201, 201]
    refused = send(local)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == 20429
    # A refused message is not stored.
    assert local.get("/_sandbox/count").get_json()["messages"] == 3


def test_a_long_message_takes_its_segments_from_the_pace(local: FlaskClient) -> None:
    local.put("/_sandbox/pace", json={"segments_per_s": 0.5, "burst": 2})
    # 71 Chinese characters are two UCS-2 segments: the whole burst.
    assert send(local, "党" * 71).status_code == 201
    assert send(local).status_code == 429


def test_the_default_burst_is_half_a_second(local: FlaskClient) -> None:
    assert local.put("/_sandbox/pace", json={"segments_per_s": 200}).get_json()["burst"] == 100.0
    assert local.put("/_sandbox/pace", json={"segments_per_s": 0.5}).get_json()["burst"] == 1.0
    local.put("/_sandbox/pace", json={"segments_per_s": 0})
    assert all(send(local).status_code == 201 for _ in range(5))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (None, "segments_per_s"),
        ([], "segments_per_s"),
        ({"burst": 3}, "segments_per_s"),
        ({"segments_per_s": "fast"}, "segments_per_s must be a number"),
        ({"segments_per_s": -1}, "segments_per_s must be a number"),
        ({"segments_per_s": True}, "segments_per_s must be a number"),
        ({"segments_per_s": 5, "burst": 0}, "burst must be"),
        ({"segments_per_s": 5, "burst": "x"}, "burst must be"),
        ({"segments_per_s": 5, "speed": 1}, "unknown pace keys: speed"),
    ],
)
def test_a_bad_pace_is_refused_with_why(local: FlaskClient, payload: Any, error: str) -> None:
    answer = local.put("/_sandbox/pace", json=payload)
    assert answer.status_code == 400
    assert error in answer.get_json()["error"]
    assert local.get("/_sandbox/pace").get_json()["segments_per_s"] == 0.0


def test_an_inbound_text_is_posted_signed_as_twilio_posts_it(
    sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.new_url("sms")
    reply = MessagingResponse()
    reply.message("回执")
    webhook_receiver.answer(url, 200, str(reply))

    answer = sandbox_api.http.post(
        f"{sandbox_api.url}/_sandbox/inbound/sms",
        json={"from": MEMBER, "to": HOTLINE, "body": "HB 1", "url": url},
        timeout=10,
    )

    assert answer.status_code == 200
    result = answer.json()
    assert result["delivered"] is True
    assert "回执" in result["reply"]
    [got] = webhook_receiver.wait_for(url, lambda got: len(got) == 1)
    assert RequestValidator(SANDBOX_TOKEN).validate(url, got.form, got.signature)
    assert got.form["MessageSid"] == result["sid"]
    assert (got.form["From"], got.form["To"], got.form["Body"]) == (MEMBER, HOTLINE, "HB 1")
    [record] = sandbox_api.get("/_sandbox/callbacks", sid=result["sid"])
    assert (record["kind"], record["outcome"]) == ("inbound-sms", "delivered")


def test_an_inbound_text_the_app_refuses_is_reported(
    sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.new_url("sms")
    webhook_receiver.answer(url, 500, "down")

    answer = sandbox_api.http.post(
        f"{sandbox_api.url}/_sandbox/inbound/sms",
        json={"from": MEMBER, "to": HOTLINE, "body": "HB 1", "url": url},
        timeout=10,
    )

    assert answer.status_code == 502
    assert answer.json()["delivered"] is False
    assert len(webhook_receiver.wait_for(url, lambda got: len(got) == 3)) == 3


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("HB 1", "JSON object"),
        ({"from": MEMBER, "to": HOTLINE, "body": "HB 1"}, "url must be"),
        ({"from": MEMBER, "to": HOTLINE, "body": " ", "url": "http://x/sms"}, "body must be"),
        ({"from": "13700137000", "to": HOTLINE, "body": "1", "url": "http://x/sms"}, "E.164"),
        ({"from": MEMBER, "to": HOTLINE, "body": "1", "url": "ftp://x/sms"}, "http(s) URL"),
        ({"from": MEMBER, "to": 5, "body": "1", "url": "http://x/sms"}, "to must be"),
    ],
)
def test_a_bad_inbound_text_is_refused_with_why(
    local: FlaskClient, payload: Any, error: str
) -> None:
    answer = local.post("/_sandbox/inbound/sms", json=payload)
    assert answer.status_code == 400
    assert error in answer.get_json()["error"]
