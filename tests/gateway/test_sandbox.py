"""The sandbox service: Twilio's API shapes, signed callbacks, faults and its own endpoints."""

from __future__ import annotations

import base64
import io
import re
import wave
from array import array
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from devtools.sandbox import app as sandbox_app_module
from devtools.sandbox import create_sandbox_app, register_cli
from infra.providers.twilio import TwilioProvider
from tests.gateway.sandbox_api import (
    FROM_NUMBER,
    SANDBOX_ACCOUNT,
    SANDBOX_TOKEN,
    SandboxAPI,
    WebhookReceiver,
    call,
    sms,
)

MEMBER = "+8613700137000"
MESSAGES = f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT}/Calls.json"


def basic_auth(account_sid: str = SANDBOX_ACCOUNT, token: str = SANDBOX_TOKEN) -> dict[str, str]:
    """The Authorization header the twilio client sends."""
    pair = base64.b64encode(f"{account_sid}:{token}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


@pytest.fixture
def local_app(tmp_path: Path) -> Iterator[Flask]:
    """A sandbox app on its own store, driven in-process (no server, no callbacks)."""
    app = create_sandbox_app(str(tmp_path / "sandbox.db"), SANDBOX_TOKEN, SANDBOX_ACCOUNT)
    app.config["TESTING"] = True
    yield app


@pytest.fixture
def local(local_app: Flask) -> FlaskClient:
    """A test client for local_app."""
    return local_app.test_client()


def signed_correctly(url: str, form: dict[str, str], signature: str | None) -> bool:
    """Check a callback's X-Twilio-Signature as the app does."""
    return signature is not None and RequestValidator(SANDBOX_TOKEN).validate(url, form, signature)


def test_message_callbacks_arrive_signed_sent_then_delivered(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    """Twilio's two status callbacks for a good send, each signed over its exact URL and form."""
    status_url = sandbox_provider.urls.sms_status(1)
    assert status_url is not None

    sent = sandbox_provider.send_sms(sms(MEMBER, "你好"))

    got = webhook_receiver.wait_for(status_url, lambda got: len(got) == 2)
    assert [r.form["MessageStatus"] for r in got] == ["sent", "delivered"]
    for received in got:
        assert signed_correctly(received.url, received.form, received.signature)
        assert received.form["MessageSid"] == sent.sid
        assert received.form["SmsSid"] == sent.sid
        assert received.form["AccountSid"] == SANDBOX_ACCOUNT
        assert (received.form["To"], received.form["From"]) == (MEMBER, FROM_NUMBER)
        assert "ErrorCode" not in received.form
    [stored] = sandbox_api.get("/_sandbox/messages", to=MEMBER)
    assert stored["status"] == "delivered"
    # The record is written once the receiver has answered, so it may trail the callback.
    records = sandbox_api.wait_for(
        "/_sandbox/callbacks", lambda found: len(found) == 2, sid=sent.sid
    )
    assert [(r["outcome"], r["params"]["MessageStatus"]) for r in records] == [
        ("delivered", "sent"),
        ("delivered", "delivered"),
    ]


@pytest.mark.parametrize(
    ("delivery", "statuses"),
    [("undelivered", ["sent", "undelivered"]), ("failed", ["failed"])],
)
def test_delivery_fault_reports_the_error_code(
    sandbox_provider: TwilioProvider,
    sandbox_api: SandboxAPI,
    webhook_receiver: WebhookReceiver,
    delivery: str,
    statuses: list[str],
) -> None:
    """A delivery fault ends the message in failure, with ErrorCode on the last callback."""
    sandbox_api.fault(delivery=delivery, error_code=30003, count=1)
    status_url = sandbox_provider.urls.sms_status(1)
    assert status_url is not None

    sent = sandbox_provider.send_sms(sms(MEMBER, "hello"))

    got = webhook_receiver.wait_for(status_url, lambda got: len(got) == len(statuses))
    assert [r.form["MessageStatus"] for r in got] == statuses
    assert got[-1].form["ErrorCode"] == "30003"
    assert all(signed_correctly(r.url, r.form, r.signature) for r in got)
    [stored] = sandbox_api.get("/_sandbox/messages", to=MEMBER)
    assert (stored["sid"], stored["status"], stored["error_code"]) == (sent.sid, delivery, 30003)


def test_a_failing_receiver_is_retried_then_dropped(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    """A callback answered with 500 is tried three times, then dropped and recorded so."""
    status_url = sandbox_provider.urls.sms_status(1)
    assert status_url is not None
    webhook_receiver.answer(status_url, 500, "down")

    sent = sandbox_provider.send_sms(sms(MEMBER, "hello"))

    got = webhook_receiver.wait_for(status_url, lambda got: len(got) == 6)
    assert [r.form["MessageStatus"] for r in got] == ["sent"] * 3 + ["delivered"] * 3
    records = sandbox_api.wait_for(
        "/_sandbox/callbacks", lambda found: len(found) == 2, sid=sent.sid
    )
    assert [(r["outcome"], r["attempts"], r["http_status"]) for r in records] == [
        ("dropped", 3, 500),
        ("dropped", 3, 500),
    ]


def test_callbacks_can_be_switched_off(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    """With callbacks off the message is stored delivered at once and no callback is queued."""
    sandbox_api.fault(callbacks=False)

    sent = sandbox_provider.send_sms(sms(MEMBER, "bench"))

    [stored] = sandbox_api.get("/_sandbox/messages", to=MEMBER)
    assert (stored["sid"], stored["status"]) == (sent.sid, "delivered")
    assert sandbox_api.get("/_sandbox/callbacks", sid=sent.sid) == []


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
def test_call_outcome_fault_ends_the_call_unanswered(
    sandbox_provider: TwilioProvider,
    sandbox_api: SandboxAPI,
    webhook_receiver: WebhookReceiver,
    outcome: str,
) -> None:
    """A busy/no-answer/failed call reports that status, zero duration, and never fetches TwiML."""
    sandbox_api.fault(call_status=outcome, count=1)
    status_url = sandbox_provider.urls.call_status(1)
    assert status_url is not None

    call_sid = sandbox_provider.place_call(call(MEMBER))

    got = webhook_receiver.wait_for(
        status_url, lambda got: any(r.form["CallStatus"] == outcome for r in got)
    )
    assert [r.form["CallStatus"] for r in got] == ["initiated", "ringing", outcome]
    assert got[-1].form["CallSid"] == call_sid
    assert got[-1].form["CallDuration"] == "0"
    [stored] = sandbox_api.get("/_sandbox/calls", to=MEMBER)
    assert (stored["status"], stored["twiml"]) == (outcome, None)
    records = sandbox_api.wait_for(
        "/_sandbox/callbacks", lambda found: len(found) == 3, sid=call_sid
    )
    assert [r["kind"] for r in records] == ["call-status"] * 3


def test_outbox_endpoints_list_messages_in_creation_order(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI
) -> None:
    """GET /_sandbox/messages gives every field tests read, oldest first; DELETE clears."""
    bodies = ["一", "二", "three"]
    sids = [sandbox_provider.send_sms(sms(MEMBER, body)).sid for body in bodies]
    sandbox_provider.send_sms(sms("+8613600136000", "elsewhere"))

    outbox = sandbox_api.get("/_sandbox/messages", to=MEMBER)

    assert [m["sid"] for m in outbox] == sids
    assert [m["body"] for m in outbox] == bodies
    first = outbox[0]
    assert {"to", "from", "body", "status", "sid", "created_at"} <= set(first)
    assert (first["to"], first["from"]) == (MEMBER, FROM_NUMBER)
    created = [datetime.fromisoformat(m["created_at"]) for m in outbox]
    assert all(when.utcoffset() is not None for when in created)
    assert created == sorted(created)
    assert len(sandbox_api.get("/_sandbox/messages")) == 4
    assert sandbox_api.get("/_sandbox/count") == {"messages": 4, "calls": 0}
    sandbox_api.http.delete(f"{sandbox_api.url}/_sandbox/messages").raise_for_status()
    assert sandbox_api.get("/_sandbox/count") == {"messages": 0, "calls": 0}


def test_raw_api_speaks_twilio_json(sandbox_api: SandboxAPI) -> None:
    """Create and fetch answer Twilio's Message resource shape and dates."""
    created = requests.post(
        f"{sandbox_api.url}{MESSAGES}",
        data={"To": MEMBER, "From": FROM_NUMBER, "Body": "你好"},
        headers=basic_auth(),
        timeout=5,
    )

    assert created.status_code == 201
    message = created.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert message["status"] == "queued"
    assert message["num_segments"] == "1"
    assert (
        message["uri"] == f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT}/Messages/{message['sid']}.json"
    )
    assert parsedate_to_datetime(message["date_created"]).utcoffset() is not None
    fetched = requests.get(f"{sandbox_api.url}{message['uri']}", headers=basic_auth(), timeout=5)
    assert fetched.status_code == 200
    assert (fetched.json()["sid"], fetched.json()["body"]) == (message["sid"], "你好")


def test_list_pages_carry_next_page_uri(local: FlaskClient) -> None:
    """A list with more rows than PageSize links to the next page, which links to none."""
    for n in range(3):
        local.post(
            MESSAGES,
            data={"To": MEMBER, "From": FROM_NUMBER, "Body": f"m{n}"},
            headers=basic_auth(),
        )

    first = local.get(MESSAGES, query_string={"To": MEMBER, "PageSize": 2}, headers=basic_auth())
    assert first.status_code == 200
    page = first.get_json()
    assert [m["body"] for m in page["messages"]] == ["m2", "m1"]
    assert page["next_page_uri"] is not None
    second = local.get(page["next_page_uri"], headers=basic_auth()).get_json()
    assert [m["body"] for m in second["messages"]] == ["m0"]
    assert second["next_page_uri"] is None
    assert second["page"] == 1


def test_list_filters_on_date_sent_bounds(local: FlaskClient) -> None:
    """DateSent> in the future finds nothing; a past day finds everything since."""
    local.post(
        MESSAGES, data={"To": MEMBER, "From": FROM_NUMBER, "Body": "x"}, headers=basic_auth()
    )

    def bodies(**query: str) -> list[str]:
        page = local.get(MESSAGES, query_string={"To": MEMBER, **query}, headers=basic_auth())
        return [m["body"] for m in page.get_json()["messages"]]

    assert bodies(**{"DateSent>": "2000-01-01"}) == ["x"]
    assert bodies(**{"DateSent>": "2999-01-01T00:00:00Z"}) == []
    assert bodies(**{"DateSent<": "2000-01-01"}) == []
    bad = local.get(MESSAGES, query_string={"DateSent>": "soon"}, headers=basic_auth())
    assert (bad.status_code, bad.get_json()["code"]) == (400, 20001)


@pytest.mark.parametrize(
    ("headers", "path", "status", "code"),
    [
        ({}, MESSAGES, 401, 20003),
        (basic_auth(token="wrong"), MESSAGES, 401, 20003),
        (basic_auth(account_sid="AC" + "9" * 32), MESSAGES, 401, 20003),
        (basic_auth(), MESSAGES.replace(SANDBOX_ACCOUNT, "AC" + "9" * 32), 404, 20404),
    ],
)
def test_api_requires_the_account_credentials(
    local: FlaskClient, headers: dict[str, str], path: str, status: int, code: int
) -> None:
    """Basic auth must carry this account's sid and token, and the path must be its own."""
    response = local.post(
        path, data={"To": MEMBER, "From": FROM_NUMBER, "Body": "x"}, headers=headers
    )

    assert response.status_code == status
    assert response.get_json()["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert local.get("/_sandbox/count").get_json() == {"messages": 0, "calls": 0}


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": FROM_NUMBER, "Body": "x"}, 21604),
        ({"To": "13800138000", "From": FROM_NUMBER, "Body": "x"}, 21211),
        ({"To": "+86abc", "From": FROM_NUMBER, "Body": "x"}, 21211),
        ({"To": MEMBER, "Body": "x"}, 21603),
        ({"To": MEMBER, "From": FROM_NUMBER}, 21602),
        ({"To": MEMBER, "From": FROM_NUMBER, "Body": "长" * 1601}, 21617),
    ],
)
def test_invalid_messages_get_twilio_error_json(
    local: FlaskClient, form: dict[str, str], code: int
) -> None:
    """A bad create answers 400 with Twilio's code, message, more_info and status."""
    response = local.post(MESSAGES, data=form, headers=basic_auth())

    assert response.status_code == 400
    error = response.get_json()
    assert set(error) == {"code", "message", "more_info", "status"}
    assert (error["code"], error["status"]) == (code, 400)
    assert error["more_info"].endswith(str(code))


def _hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())


def test_call_create_validates_and_answers_a_call_resource(local: FlaskClient) -> None:
    """Calls.json needs To and a Url, and answers 201 with a CA sid, queued."""
    missing_url = local.post(CALLS, data={"To": MEMBER, "From": FROM_NUMBER}, headers=basic_auth())
    assert (missing_url.status_code, missing_url.get_json()["code"]) == (400, 21205)

    created = local.post(
        CALLS,
        data={"To": MEMBER, "From": FROM_NUMBER, "Twiml": _hangup_twiml()},
        headers=basic_auth(),
    )

    assert created.status_code == 201
    call = created.get_json()
    assert re.fullmatch(r"CA[0-9a-f]{32}", call["sid"])
    assert (call["status"], call["direction"], call["to"]) == ("queued", "outbound-api", MEMBER)


@pytest.mark.parametrize(
    "rule",
    [
        {},
        {"bogus": 1},
        {"code": "21610"},
        {"count": -1, "code": 21610},
        {"delivery": "lost"},
        {"error_code": 30003},
        {"status": 200},
        {"callbacks": "no"},
    ],
)
def test_malformed_fault_rules_are_refused(local: FlaskClient, rule: dict[str, Any]) -> None:
    """A rule the sandbox would misread is refused with 400 and not stored."""
    response = local.post("/_sandbox/faults", json=rule)

    assert response.status_code == 400
    assert response.get_json()["error"]
    assert local.get("/_sandbox/faults").get_json() == []


def test_faults_are_listed_counted_down_and_cleared(local: FlaskClient) -> None:
    """A counted rule shows its remaining uses; DELETE removes every rule."""
    local.post("/_sandbox/faults", json={"code": 21610, "count": 2})
    local.post(
        MESSAGES, data={"To": MEMBER, "From": FROM_NUMBER, "Body": "x"}, headers=basic_auth()
    )

    [rule] = local.get("/_sandbox/faults").get_json()
    assert (rule["rule"]["code"], rule["remaining"]) == (21610, 1)
    assert local.delete("/_sandbox/faults").get_json() == {"cleared": 1}
    assert local.get("/_sandbox/faults").get_json() == []


def test_recording_is_a_one_second_wav(local: FlaskClient) -> None:
    """Any recording name plays a valid one-second, not silent, WAV."""
    response = local.get("/_sandbox/recordings/lesson-3.wav")

    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    with wave.open(io.BytesIO(response.data)) as audio:
        assert audio.getnframes() / audio.getframerate() == 1.0
        assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
        frames = audio.readframes(audio.getnframes())
    samples = array("h", frames)  # 16-bit little-endian, as written on this platform
    assert max(abs(sample) for sample in samples) > 1000


def test_health(local: FlaskClient) -> None:
    """/_sandbox/health answers ok."""
    assert local.get("/_sandbox/health").get_json() == {"ok": True}


@pytest.mark.parametrize(
    ("args", "host", "port"),
    [([], "127.0.0.1", 6123), (["--port", "7001", "--host", "0.0.0.0"], "0.0.0.0", 7001)],
)
def test_serve_command_reads_the_app_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], host: str, port: int
) -> None:
    """`flask sandbox serve` takes host, port, store and token from the app's config."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sandbox_app_module, "serve", lambda **kwargs: calls.append(kwargs))
    app = Flask("host_app")
    app.config.update(
        SANDBOX_URL="http://127.0.0.1:6123",
        SANDBOX_DB=str(tmp_path / "var" / "sandbox.db"),
        TWILIO_AUTH_TOKEN="cli-token",
        TWILIO_ACCOUNT_SID=SANDBOX_ACCOUNT,
        PUBLIC_BASE_URL="http://127.0.0.1:5000",
        CN_CALLBACK_SECRET="push-secret",
    )
    register_cli(app)

    result = app.test_cli_runner().invoke(args=["sandbox", "serve", *args])

    assert result.exit_code == 0, result.output
    [call] = calls
    assert (call["host"], call["port"]) == (host, port)
    assert call["db_path"] == str(tmp_path / "var" / "sandbox.db")
    assert (call["auth_token"], call["account_sid"]) == ("cli-token", SANDBOX_ACCOUNT)
    assert (call["push_base"], call["push_secret"]) == ("http://127.0.0.1:5000/cn", "push-secret")
    assert (tmp_path / "var").is_dir()
