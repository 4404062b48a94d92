"""The provider over the real twilio client, exercised against a running sandbox."""

from __future__ import annotations

import pickle
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from devtools.servers import free_port
from infra.providers import Failure, ProviderError
from infra.providers.twilio import (
    CALL_STATUS_EVENTS,
    TwilioProvider,
    build_twilio,
    failure_of,
    provider_error,
)
from models.message import MessageStatus
from tests.gateway.sandbox_api import (
    FROM_NUMBER,
    SANDBOX_ACCOUNT,
    SANDBOX_TOKEN,
    SandboxAPI,
    WebhookReceiver,
    call,
    sms,
)

MEMBER = "+8613800138000"
OTHER = "+8613900139000"


def signed_correctly(url: str, form: dict[str, str], signature: str | None) -> bool:
    """Check a callback's X-Twilio-Signature the way the app's webhook check does."""
    return signature is not None and RequestValidator(SANDBOX_TOKEN).validate(url, form, signature)


def test_send_sms_is_recorded_by_the_sandbox(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI
) -> None:
    """A send returns the queued message and the sandbox's outbox holds exactly it."""
    before = datetime.now(UTC).replace(microsecond=0)
    sent = sandbox_provider.send_sms(sms(MEMBER, "汇报收到，谢谢。Report received, thank you."))

    assert re.fullmatch(r"SM[0-9a-f]{32}", sent.sid)
    assert sent.to == MEMBER
    assert sent.body == "汇报收到，谢谢。Report received, thank you."
    assert sent.delivery is MessageStatus.SENT
    assert sent.error_code is None
    assert sent.date_created is not None
    assert sent.date_created >= before
    outbox = sandbox_api.get("/_sandbox/messages", to=MEMBER)
    assert [(m["sid"], m["from"], m["body"]) for m in outbox] == [
        (sent.sid, FROM_NUMBER, sent.body)
    ]


def test_list_messages_filters_by_recipient_and_date(sandbox_api: SandboxAPI) -> None:
    """Only messages to the number, sent at or after the bound, come back (with no status
    callback to make, the sandbox has them delivered at once)."""
    sandbox_provider = build_twilio(
        kind="sandbox",
        account_sid=SANDBOX_ACCOUNT,
        auth_token=SANDBOX_TOKEN,
        from_number=FROM_NUMBER,
        sandbox_url=sandbox_api.url,
    )
    start = datetime.now(UTC) - timedelta(seconds=1)
    first = sandbox_provider.send_sms(sms(MEMBER, "one"))
    second = sandbox_provider.send_sms(sms(MEMBER, "two"))
    other = sandbox_provider.send_sms(sms(OTHER, "three"))

    found = sandbox_provider.list_messages(MEMBER, start)
    assert {m.sid for m in found} == {first.sid, second.sid}
    assert {m.delivery for m in found} == {MessageStatus.DELIVERED}
    assert [m.sid for m in sandbox_provider.list_messages(OTHER, start)] == [other.sid]
    assert sandbox_provider.list_messages(MEMBER, datetime.now(UTC) + timedelta(minutes=1)) == []


def test_list_messages_accepts_local_and_naive_times(sandbox_provider: TwilioProvider) -> None:
    """A bound in another zone means the same instant; a naive one is taken as UTC."""
    sent = sandbox_provider.send_sms(sms(MEMBER, "zone"))
    assert sent.date_created is not None
    shanghai = sent.date_created.astimezone(ZoneInfo("Asia/Shanghai"))
    naive_utc = sent.date_created.replace(tzinfo=None)

    assert [m.sid for m in sandbox_provider.list_messages(MEMBER, shanghai)] == [sent.sid]
    assert [m.sid for m in sandbox_provider.list_messages(MEMBER, naive_utc)] == [sent.sid]
    later = shanghai + timedelta(hours=1)
    assert sandbox_provider.list_messages(MEMBER, later) == []


def test_list_messages_follows_every_page(sandbox_provider: TwilioProvider) -> None:
    """More messages than one page (50) still all come back, through next_page_uri."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    sids = {sandbox_provider.send_sms(sms(MEMBER, f"page test {n}")).sid for n in range(57)}

    found = sandbox_provider.list_messages(MEMBER, start)

    assert len(found) == 57
    assert {m.sid for m in found} == sids


@pytest.mark.parametrize(
    ("rule", "status", "code", "transient", "rate_limited"),
    [
        ({"status": 429, "code": 20429}, 429, 20429, True, True),
        ({"code": 20429}, 429, 20429, True, True),
        ({"code": 21610}, 400, 21610, False, False),
        ({"code": 21614}, 400, 21614, False, False),
        ({"code": 21408}, 400, 21408, False, False),
        ({"code": 500}, 500, 20500, True, False),
        ({"status": 503}, 503, 20503, True, False),
    ],
)
def test_sandbox_errors_map_to_provider_errors(
    sandbox_provider: TwilioProvider,
    sandbox_api: SandboxAPI,
    rule: dict[str, Any],
    status: int,
    code: int,
    transient: bool,
    rate_limited: bool,
) -> None:
    """Each Twilio error the sandbox answers becomes a ProviderError with the right flags."""
    sandbox_api.fault(**rule, count=1)

    with pytest.raises(ProviderError) as caught:
        sandbox_provider.send_sms(sms(MEMBER, "hello"))

    error = caught.value
    assert (error.status, error.code) == (status, str(code))
    assert (error.transient, error.rate_limited) == (transient, rate_limited)
    # count=1: the next send goes through.
    assert sandbox_provider.send_sms(sms(MEMBER, "hello again")).delivery is MessageStatus.SENT
    assert [m["body"] for m in sandbox_api.get("/_sandbox/messages", to=MEMBER)] == ["hello again"]


def test_invalid_number_is_a_permanent_21211(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI
) -> None:
    """A To that is not E.164 is refused with 21211 and must not be retried."""
    with pytest.raises(ProviderError) as caught:
        sandbox_provider.send_sms(sms("13800138000", "hello"))

    assert (caught.value.status, caught.value.code) == (400, "21211")
    assert caught.value.failure is Failure.INVALID_NUMBER
    assert not caught.value.transient
    assert sandbox_api.get("/_sandbox/count")["messages"] == 0


def test_a_number_fault_fails_only_that_number_every_time(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI
) -> None:
    """{"to": X, "code": 21610} refuses X on every send and leaves others alone."""
    sandbox_api.fault(to=MEMBER, code=21610)

    for _ in range(3):
        with pytest.raises(ProviderError) as caught:
            sandbox_provider.send_sms(sms(MEMBER, "hello"))
        assert caught.value.code == "21610"
        assert caught.value.failure is Failure.OPTED_OUT
    assert sandbox_provider.send_sms(sms(OTHER, "hello")).to == OTHER


def test_a_fault_count_is_shared_exactly_across_workers(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI
) -> None:
    """With parallel senders on both server workers, exactly `count` sends are refused."""
    sandbox_api.fault(status=429, code=20429, count=7)

    def send(n: int) -> str:
        try:
            return sandbox_provider.send_sms(sms(MEMBER, f"burst {n}")).sid
        except ProviderError as exc:
            return f"error {exc.code}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(send, range(60)))

    assert outcomes.count("error 20429") == 7
    sids = [outcome for outcome in outcomes if outcome.startswith("SM")]
    assert len(set(sids)) == 53
    assert sandbox_api.get("/_sandbox/count")["messages"] == 53


def test_a_slow_sandbox_and_a_short_timeout_give_a_transient_error(
    sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    """A read timeout is a transient ProviderError, though the provider may still send it."""
    impatient = build_twilio(
        kind="sandbox",
        callback_base=webhook_receiver.new_base(),
        account_sid=SANDBOX_ACCOUNT,
        auth_token=SANDBOX_TOKEN,
        from_number=FROM_NUMBER,
        sandbox_url=sandbox_api.url,
        timeout=0.1,
    )
    sandbox_api.fault(delay_ms=600, count=1)

    status_url = impatient.urls.sms_status(1)

    with pytest.raises(ProviderError) as caught:
        impatient.send_sms(sms(MEMBER, "slow"))

    assert caught.value.transient
    assert caught.value.connection_error
    assert caught.value.status is None
    # The sandbox finished the request after we gave up: why stuck sends are reconciled.
    webhook_receiver.wait_for(status_url, lambda got: len(got) == 2)
    assert [m["body"] for m in sandbox_api.get("/_sandbox/messages", to=MEMBER)] == ["slow"]


def test_an_unreachable_provider_is_a_transient_error() -> None:
    """Nothing listening on the port: the error is transient."""
    nowhere = build_twilio(
        kind="sandbox",
        account_sid=SANDBOX_ACCOUNT,
        auth_token=SANDBOX_TOKEN,
        from_number=FROM_NUMBER,
        sandbox_url=f"http://127.0.0.1:{free_port()}",
        callback_base="http://127.0.0.1:1",
        timeout=2.0,
    )

    with pytest.raises(ProviderError) as caught:
        nowhere.place_call(call(MEMBER))

    assert caught.value.transient
    assert not caught.value.rate_limited


@pytest.mark.parametrize("operation", ["send", "list"])
def test_wrong_credentials_are_a_permanent_401(sandbox_api: SandboxAPI, operation: str) -> None:
    """A bad auth token is refused with 20003, on creates and on list pages alike."""
    wrong = build_twilio(
        kind="sandbox",
        account_sid=SANDBOX_ACCOUNT,
        auth_token="not-the-token",
        from_number=FROM_NUMBER,
        sandbox_url=sandbox_api.url,
    )

    with pytest.raises(ProviderError) as caught:
        if operation == "send":
            wrong.send_sms(sms(MEMBER, "hello"))
        else:
            wrong.list_messages(MEMBER, datetime.now(UTC))

    assert (caught.value.status, caught.value.code) == (401, "20003")
    assert caught.value.failure is Failure.REFUSED
    assert not caught.value.transient


def test_place_call_fetches_twiml_and_reports_completion(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    """A call asks the voice URL once, then reports every progress event, completed last."""
    voice_url = sandbox_provider.urls.call_twiml(7)
    status_url = sandbox_provider.urls.call_status(7)
    assert status_url is not None
    response = VoiceResponse()
    response.say("你好")
    twiml = response.to_xml()
    webhook_receiver.answer(voice_url, 200, twiml)

    call_sid = sandbox_provider.place_call(call(MEMBER, 7))

    assert re.fullmatch(r"CA[0-9a-f]{32}", call_sid)
    events = webhook_receiver.wait_for(
        status_url, lambda got: any(r.form["CallStatus"] == "completed" for r in got)
    )
    assert [r.form["CallStatus"] for r in events] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    completed = events[-1].form
    assert completed["CallSid"] == call_sid
    assert completed["AnsweredBy"] == "human"
    assert int(completed["CallDuration"]) > 0
    assert (completed["To"], completed["From"]) == (MEMBER, FROM_NUMBER)
    assert completed["AccountSid"] == SANDBOX_ACCOUNT
    assert all(signed_correctly(r.url, r.form, r.signature) for r in events)
    [voice] = webhook_receiver.wait_for(voice_url, lambda got: len(got) == 1)
    assert voice.form["Direction"] == "outbound-api"
    assert voice.form["CallSid"] == call_sid
    assert signed_correctly(voice.url, voice.form, voice.signature)
    [stored] = sandbox_api.get("/_sandbox/calls", to=MEMBER)
    assert stored["twiml"] == twiml
    assert stored["status"] == "completed"
    assert stored["status_callback_events"] == list(CALL_STATUS_EVENTS)
    assert stored["machine_detection"] is None


def test_machine_fault_reports_machine_start(
    sandbox_provider: TwilioProvider, sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver
) -> None:
    """With detection on and the machine fault, the call is answered by machine_start."""
    sandbox_api.fault(answered_by="machine_start", count=1)
    status_url = sandbox_provider.urls.call_status(1)
    assert status_url is not None

    call_sid = sandbox_provider.place_call(call(MEMBER, machine_detection=True))

    events = webhook_receiver.wait_for(
        status_url, lambda got: any(r.form["CallStatus"] == "completed" for r in got)
    )
    assert events[-1].form["CallSid"] == call_sid
    assert events[-1].form["AnsweredBy"] == "machine_start"
    [stored] = sandbox_api.get("/_sandbox/calls", to=MEMBER)
    assert stored["machine_detection"] == "Enable"
    assert stored["answered_by"] == "machine_start"


@pytest.mark.parametrize(
    ("status", "code", "failure"),
    [
        (429, None, Failure.RATE_LIMITED),
        (400, "20429", Failure.RATE_LIMITED),
        (500, "20500", Failure.RETRY_LATER),
        (502, None, Failure.RETRY_LATER),
        (400, "21610", Failure.OPTED_OUT),
        (400, "21211", Failure.INVALID_NUMBER),
        (400, "21614", Failure.INVALID_NUMBER),
        (400, "21408", Failure.REFUSED),
        (401, "20003", Failure.REFUSED),
        (None, None, Failure.REFUSED),
    ],
)
def test_twilio_refusals_read_as_the_domain_failures(
    status: int | None, code: str | None, failure: Failure
) -> None:
    """Twilio's code decides first, then the HTTP status; only the last two kinds retry."""
    assert failure_of(status, code) is failure
    error = ProviderError("x", status=status, code=code, failure=failure_of(status, code))
    assert error.transient is (failure in (Failure.RATE_LIMITED, Failure.RETRY_LATER))
    assert error.rate_limited is (failure is Failure.RATE_LIMITED)


def test_a_broken_connection_may_be_retried() -> None:
    """A request that never got an answer is transient and says it may have arrived."""
    error = provider_error(requests.ConnectionError("reset"))
    assert (error.failure, error.transient, error.connection_error) == (
        Failure.RETRY_LATER,
        True,
        True,
    )


def test_provider_error_survives_pickling() -> None:
    """RQ stores failed jobs' exceptions; the status and code must come back intact."""
    error = ProviderError(
        "Too Many Requests", status=429, code="20429", failure=Failure.RATE_LIMITED
    )

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.message, copy.status, copy.code) == ("Too Many Requests", 429, "20429")
    assert copy.transient and copy.rate_limited


def test_build_provider_points_only_the_sandbox_at_another_base_url() -> None:
    """kind=sandbox moves the Api domain; kind=twilio keeps Twilio's own host."""
    common: dict[str, Any] = {
        "account_sid": SANDBOX_ACCOUNT,
        "auth_token": SANDBOX_TOKEN,
        "from_number": FROM_NUMBER,
    }
    sandbox = build_twilio(kind="sandbox", sandbox_url="http://127.0.0.1:5055/", **common)
    twilio = build_twilio(kind="twilio", **common)

    assert sandbox.client.api.base_url == "http://127.0.0.1:5055"
    assert twilio.client.api.base_url == "https://api.twilio.com"
    assert twilio.client.http_client.timeout == 10.0
    with pytest.raises(ValueError, match="sandbox_url"):
        build_twilio(kind="sandbox", **common)
    with pytest.raises(ValueError, match="kind"):
        build_twilio(kind="aliyun", **common)
