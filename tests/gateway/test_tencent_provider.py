"""The Tencent Cloud provider through the official SDK against the sandbox, over real HTTP.

The sandbox checks the TC3-HMAC-SHA256 signature the SDK makes with its own code, keeps what
SendSms took, and refuses as Tencent refuses; each refusal must reach the domain as its Failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from devtools.sandbox import app as sandbox_app_module
from devtools.sandbox.app import register_cli
from devtools.sandbox.tencent import ApiError, TencentSandbox, check_signature
from devtools.servers import free_port
from infra.providers import Failure, OutboundSms, ProviderError
from infra.providers.tencent import Endpoint, failure_of, provider_error, session_context
from models.message import MessageStatus
from tests.gateway.tencent_support import (
    NOTICE_TEMPLATE,
    REPORT_TEMPLATE,
    SDK_APP_ID,
    SECRET_KEY,
    SIGN_NAME,
    TencentSandboxAPI,
    provider,
    tencent_sandbox,
)

PHONE = "+8613800138000"


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tencent_sandbox(tmp_path_factory.mktemp("tencent") / "sandbox.db") as url:
        yield url


@pytest.fixture
def tencent_api(sandbox_url: str) -> Iterator[TencentSandboxAPI]:
    api = TencentSandboxAPI(sandbox_url)
    api.reset()
    yield api
    api.reset()
    api.http.close()


def _notice(text: str = "今晚七点开会", to: str = PHONE, message_id: int = 41) -> OutboundSms:
    return OutboundSms(
        message_id=message_id,
        to=to,
        body=f"【{SIGN_NAME}】{text}",
        template="broadcast",
        params={"text": text},
    )


def test_a_send_reaches_the_sandbox_as_a_template_with_positional_params(
    tencent_api: TencentSandboxAPI,
) -> None:
    """SendSms carries the app id, the signature, the template id, its params and our row id."""
    sent = provider(tencent_api.url).send_sms(_notice())

    assert sent.delivery is MessageStatus.SENT and sent.to == PHONE
    [stored] = tencent_api.sms()
    assert stored["serial_no"] == sent.sid
    assert (stored["sdk_app_id"], stored["template_id"], stored["sign_name"]) == (
        SDK_APP_ID,
        NOTICE_TEMPLATE,
        SIGN_NAME,
    )
    assert stored["params"] == ["今晚七点开会"]
    assert stored["session_context"] == session_context(41)
    assert (stored["to"], stored["code"]) == (PHONE, "Ok")


def test_the_books_signature_wins_over_the_default(tencent_api: TencentSandboxAPI) -> None:
    """A template with its own signature is sent under it, with no params when it has none."""
    provider(tencent_api.url).send_sms(
        OutboundSms(message_id=1, to=PHONE, body="谢谢", template="report_thanks")
    )
    [stored] = tencent_api.sms()
    assert (stored["template_id"], stored["sign_name"], stored["params"]) == (
        REPORT_TEMPLATE,
        "另一签名",
        [],
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"secret_key": SECRET_KEY + "x"}, "AuthFailure.SignatureFailure"),
        ({"secret_id": "AKIDsomeoneelse"}, "AuthFailure.SecretIdNotFound"),
    ],
)
def test_a_wrong_key_is_refused_and_nothing_is_sent(
    tencent_api: TencentSandboxAPI, kwargs: dict[str, str], code: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(tencent_api.url, **kwargs).send_sms(_notice())
    assert (caught.value.code, caught.value.failure) == (code, Failure.REFUSED)
    assert tencent_api.sms() == []


def test_a_row_without_an_approved_template_fails_with_the_books_reason(
    tencent_api: TencentSandboxAPI,
) -> None:
    """The book's refusal is the row's error code; Tencent is not asked."""
    with pytest.raises(ProviderError) as caught:
        provider(tencent_api.url).send_sms(
            OutboundSms(message_id=2, to=PHONE, body="x", template="menu")
        )
    assert (caught.value.code, caught.value.failure) == ("template.missing", Failure.REFUSED)
    with pytest.raises(ProviderError) as untemplated:
        provider(tencent_api.url).send_sms(OutboundSms(message_id=3, to=PHONE, body="x"))
    assert untemplated.value.code == "template.unavailable"
    assert tencent_api.sms() == []


def test_over_the_daily_cap_is_refused_and_not_retried(tencent_api: TencentSandboxAPI) -> None:
    """Tencent's default cap (2 a day to one number), every accepted send counting."""
    tencent_api.settings(daily_cap=2)
    sender = provider(tencent_api.url)
    sender.send_sms(_notice("一"))
    sender.send_sms(_notice("二"))
    with pytest.raises(ProviderError) as caught:
        sender.send_sms(_notice("三"))
    error = caught.value
    assert (error.code, error.failure, error.transient) == (
        "LimitExceeded.PhoneNumberDailyLimit",
        Failure.OVER_CAP,
        False,
    )
    sender.send_sms(_notice("三", to="+8613900139000"))  # another number has its own cap


def test_identical_content_within_the_window_is_refused_for_later(
    tencent_api: TencentSandboxAPI,
) -> None:
    tencent_api.settings(same_content_s=30)
    sender = provider(tencent_api.url)
    sender.send_sms(_notice())
    with pytest.raises(ProviderError) as caught:
        sender.send_sms(_notice())
    assert (caught.value.code, caught.value.failure) == (
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        Failure.RETRY_LATER,
    )
    sender.send_sms(_notice("另一件事"))  # other content goes through


def test_an_unapproved_template_is_refused(tencent_api: TencentSandboxAPI) -> None:
    tencent_api.settings(unapproved_templates=[NOTICE_TEMPLATE])
    with pytest.raises(ProviderError) as caught:
        provider(tencent_api.url).send_sms(_notice())
    assert (caught.value.code, caught.value.failure) == (
        "FailedOperation.TemplateIncorrectOrUnapproved",
        Failure.REFUSED,
    )


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+8612345", "InvalidParameterValue.IncorrectPhoneNumber"),
        ("+14155550100", "InvalidParameterValue.IncorrectPhoneNumber"),
        ("+86138abc", "FailedOperation.PhoneNumberParseFail"),
    ],
)
def test_a_number_tencent_cannot_take_is_an_invalid_number(
    tencent_api: TencentSandboxAPI, to: str, code: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(tencent_api.url).send_sms(_notice(to=to))
    assert (caught.value.code, caught.value.failure) == (code, Failure.INVALID_NUMBER)


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("FailedOperation.PhoneNumberInBlacklist", Failure.OPTED_OUT),  # per number
        ("InvalidParameterValue.IncorrectPhoneNumber", Failure.INVALID_NUMBER),  # unknown number
        ("RequestLimitExceeded", Failure.RATE_LIMITED),  # the whole request
        ("InternalError.Timeout", Failure.RETRY_LATER),
        ("FailedOperation.InsufficientBalanceInSmsPackage", Failure.REFUSED),
    ],
)
def test_each_refusal_reaches_the_domain_as_its_failure(
    tencent_api: TencentSandboxAPI, code: str, failure: Failure
) -> None:
    tencent_api.rule(to=PHONE, code=code, count=1)
    sender = provider(tencent_api.url)
    with pytest.raises(ProviderError) as caught:
        sender.send_sms(_notice())
    assert (caught.value.code, caught.value.failure) == (code, failure)
    assert sender.send_sms(_notice()).sid  # the rule was used up


def test_an_unreachable_endpoint_is_a_connection_error_to_retry() -> None:
    """The send may or may not have arrived: the outbox looks before it sends again."""
    with pytest.raises(ProviderError) as caught:
        provider(f"http://127.0.0.1:{free_port()}").send_sms(_notice())
    error = caught.value
    assert (error.failure, error.connection_error, error.code) == (
        Failure.RETRY_LATER,
        True,
        "ClientNetworkError",
    )


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("LimitExceeded.PhoneNumberOneHourLimit", Failure.RETRY_LATER),
        ("RequestLimitExceeded.IPLimitExceeded", Failure.RATE_LIMITED),
        ("InternalError.OtherError", Failure.RETRY_LATER),
        ("InternalErrorX", Failure.REFUSED),
        ("AuthFailure.SignatureExpire", Failure.REFUSED),
        ("", Failure.REFUSED),
    ],
)
def test_codes_are_read_by_family(code: str, failure: Failure) -> None:
    assert failure_of(code) is failure


def test_an_http_error_status_is_a_fault_to_retry() -> None:
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )

    error = provider_error(TencentCloudSDKException("ServerNetworkError", "502 Bad Gateway"))
    assert (error.failure, error.connection_error) == (Failure.RETRY_LATER, False)


@pytest.mark.parametrize(
    ("setting", "scheme", "host", "tencent"),
    [
        ("sms.tencentcloudapi.com", "https", "sms.tencentcloudapi.com", True),
        (
            "https://sms.ap-guangzhou.tencentcloudapi.com",
            "https",
            "sms.ap-guangzhou.tencentcloudapi.com",
            True,
        ),
        ("http://127.0.0.1:5055", "http", "127.0.0.1:5055", False),
        ("http://sms.tencentcloudapi.com", "http", "sms.tencentcloudapi.com", False),
    ],
)
def test_the_endpoint_setting_gives_the_sdk_a_scheme_and_a_host(
    setting: str, scheme: str, host: str, tencent: bool
) -> None:
    endpoint = Endpoint.parse(setting)
    assert (endpoint.scheme, endpoint.host, endpoint.is_tencent) == (scheme, host, tencent)


@pytest.mark.parametrize("setting", ["ftp://x", "http://", "https://host/path", "https://u:p@h"])
def test_an_endpoint_that_is_not_one_is_refused(setting: str) -> None:
    with pytest.raises(ValueError):
        Endpoint.parse(setting)


def _signed(body: bytes, key: str, timestamp: int) -> dict[str, str]:
    """Headers signed by the documented steps, written out here apart from both sides' code."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "content-type:application/json\nhost:sms.example:80\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/sms/tc3_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    secret = ("TC3" + key).encode()
    for part in (date, "sms", "tc3_request"):
        secret = hmac.new(secret, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(secret, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "authorization": f"TC3-HMAC-SHA256 Credential=AKID/{date}/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}",
        "content-type": "application/json",
        "host": "sms.example:80",
        "x-tc-timestamp": str(timestamp),
    }


def test_the_sandbox_checks_the_body_the_key_and_the_time_it_was_signed() -> None:
    keys = TencentSandbox(secret_id="AKID", secret_key="k")
    body = json.dumps({"PhoneNumberSet": [PHONE]}).encode()
    now = int(time.time())
    headers = _signed(body, "k", now)
    check_signature("POST", "/", "", headers, body, keys, now)  # accepted

    def refused(**changes: object) -> str:
        args: dict[str, object] = {"headers": headers, "body": body, "now": now}
        args.update(changes)
        with pytest.raises(ApiError) as caught:
            check_signature("POST", "/", "", args["headers"], args["body"], keys, args["now"])  # type: ignore[arg-type]
        return caught.value.code

    assert refused(body=body.replace(b"138", b"139")) == "AuthFailure.SignatureFailure"
    assert refused(headers=_signed(body, "other", now)) == "AuthFailure.SignatureFailure"
    assert refused(headers={**headers, "host": "elsewhere"}) == "AuthFailure.SignatureFailure"
    assert refused(now=now + 301) == "AuthFailure.SignatureExpire"
    assert refused(headers={**headers, "authorization": "Basic x"}) == (
        "AuthFailure.InvalidAuthorization"
    )


def test_flask_sandbox_serve_checks_tencent_signatures_with_the_apps_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The sandbox started by `flask sandbox serve` knows the app's Tencent key pair."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sandbox_app_module, "serve", lambda **kwargs: calls.append(kwargs))
    app = Flask("host_app")
    app.config.update(
        SANDBOX_DB=str(tmp_path / "sandbox.db"),
        TWILIO_AUTH_TOKEN="cli-token",
        PUBLIC_BASE_URL="http://127.0.0.1:5000",
        TENCENT_SECRET_ID="AKIDcli",
        TENCENT_SECRET_KEY="cli-key",
    )
    register_cli(app)
    result = app.test_cli_runner().invoke(args=["sandbox", "serve"])
    assert result.exit_code == 0, result.output
    [call] = calls
    assert (call["tencent_secret_id"], call["tencent_secret_key"]) == ("AKIDcli", "cli-key")


def test_the_messages_to_a_number_are_listed_with_their_reports(
    tencent_api: TencentSandboxAPI,
) -> None:
    """PullSmsSendStatusByPhoneNumber: each accepted message with its report, but no text."""
    tencent_api.rule(to=PHONE, report="FAIL", errmsg="MK:0005", count=1)
    sender = provider(tencent_api.url)
    before = datetime.now(UTC)
    failed = sender.send_sms(_notice("一"))
    delivered = sender.send_sms(_notice("二"))
    sender.send_sms(_notice("三", to="+8613900139000"))

    found = sender.list_messages(PHONE, before)

    assert [(m.sid, m.delivery, m.error_code, m.body) for m in found] == [
        (failed.sid, MessageStatus.UNDELIVERED, "MK:0005", ""),
        (delivered.sid, MessageStatus.DELIVERED, None, ""),
    ]
    assert sender.list_messages(PHONE, datetime.now(UTC).replace(year=2099)) == []


def test_replies_are_pulled_once_through_the_sdk(tencent_api: TencentSandboxAPI) -> None:
    """PullSmsReplyStatus gives each reply the sandbox was told of, then not again."""
    from tencentcloud.sms.v20210111 import models as sms_models

    tencent_api.reply(PHONE, "TD", time=1_780_000_000)
    client = provider(tencent_api.url).client
    request = sms_models.PullSmsReplyStatusRequest()
    request.SmsSdkAppId = SDK_APP_ID
    request.Limit = 10
    [reply] = client.PullSmsReplyStatus(request).PullSmsReplyStatusSet
    assert (reply.PhoneNumber, reply.ReplyContent, reply.ReplyTime) == (PHONE, "TD", 1_780_000_000)
    assert client.PullSmsReplyStatus(request).PullSmsReplyStatusSet == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/settings", {"daily_cap": "two"}),
        ("/settings", {"push_later": True}),
        ("/rules", {"to": PHONE}),
        ("/rules", {"code": "X", "report": "FAIL"}),
        ("/rules", {"report": "SUCCESS"}),
        ("/replies", {"phone": "+14155550100", "text": "hi"}),
    ],
)
def test_the_sandbox_says_what_is_wrong_with_a_switch_or_a_rule(
    tencent_api: TencentSandboxAPI, path: str, body: dict[str, Any]
) -> None:
    method = "PUT" if path == "/settings" else "POST"
    response = tencent_api.http.request(
        method, f"{tencent_api.url}/_sandbox/tencent{path}", json=body, timeout=10
    )
    assert response.status_code == 400 and response.json()["error"]
