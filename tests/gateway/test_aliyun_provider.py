"""The Alibaba Cloud provider through the official SDK, against the sandbox's copy of the API.

Real HTTP to a sandbox process; every request is signed by the SDK and checked by the sandbox.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.sandbox.aliyun import ApiError, canonical_request, check_signature, sign
from infra.config import ConfigError, load_config
from infra.providers import Failure, OutboundSms, ProviderError, build_provider
from infra.providers.aliyun import AliyunProvider, lookup_sid
from models.message import MessageStatus
from tests.gateway.aliyun_sandbox import KEY_ID, KEY_SECRET, SIGN_NAME, TEMPLATES, AliyunSandbox
from tests.support import wait_until

TO = "+8613800001234"


def _sms(message_id: int = 41, to: str = TO, template: str | None = "broadcast") -> OutboundSms:
    return OutboundSms(
        message_id=message_id,
        to=to,
        body="本月25日前请回复HB汇报",
        template=template,
        params={"text": "本月25日前请回复HB汇报"},
    )


def test_a_send_carries_the_template_the_sign_name_the_params_and_our_row_id(
    aliyun_sandbox: AliyunSandbox,
) -> None:
    """SendSms through the SDK: the sandbox keeps what Alibaba would get; the sid is the BizId."""
    sent = aliyun_sandbox.provider().send_sms(_sms())

    [stored] = aliyun_sandbox.get("messages")
    assert stored["to"] == "13800001234"  # Alibaba's own number format: no +86
    assert (stored["template_code"], stored["sign_name"], stored["out_id"]) == (
        TEMPLATES["broadcast"],
        SIGN_NAME,
        "41",
    )
    assert stored["params"] == {"text": "本月25日前请回复HB汇报"}
    assert (sent.sid, sent.delivery, sent.to) == (stored["biz_id"], MessageStatus.SENT, TO)


@pytest.mark.parametrize(
    ("secret", "key_id", "code"),
    [
        (KEY_SECRET + "x", KEY_ID, "SignatureDoesNotMatch"),
        ("", KEY_ID, "SignatureDoesNotMatch"),
        (KEY_SECRET, "LTAI5tSomeoneElse", "InvalidAccessKeyId.NotFound"),
    ],
)
def test_a_wrong_access_key_is_refused_and_nothing_is_sent(
    aliyun_sandbox: AliyunSandbox, secret: str, key_id: str, code: str
) -> None:
    """The signature is checked against the sandbox's AccessKey secret, as Alibaba checks it."""
    provider = aliyun_sandbox.provider(secret=secret or "not-the-secret", key_id=key_id)
    with pytest.raises(ProviderError) as refused:
        provider.send_sms(_sms())
    assert (refused.value.code, refused.value.failure) == (code, Failure.REFUSED)
    assert not refused.value.transient
    assert aliyun_sandbox.get("messages") == []


@pytest.mark.parametrize(
    ("kind", "code", "failure"),
    [
        ("over_cap", "isv.BUSINESS_LIMIT_CONTROL", Failure.OVER_CAP),
        ("template_not_approved", "isv.SMS_TEMPLATE_ILLEGAL", Failure.REFUSED),
        ("unknown_number", "isv.MOBILE_NUMBER_ILLEGAL", Failure.INVALID_NUMBER),
        ("throttled", "Throttling.User", Failure.RATE_LIMITED),
        ("system_error", "isp.SYSTEM_ERROR", Failure.RETRY_LATER),
    ],
)
def test_each_refusal_is_read_into_its_failure(
    aliyun_sandbox: AliyunSandbox, kind: str, code: str, failure: Failure
) -> None:
    """Alibaba's code is kept; the domain acts on the Failure it is read into."""
    aliyun_sandbox.fault(kind=kind, to=TO, count=1)
    provider = aliyun_sandbox.provider()
    with pytest.raises(ProviderError) as refused:
        provider.send_sms(_sms())
    assert (refused.value.code, refused.value.failure) == (code, failure)
    assert refused.value.transient is (failure in (Failure.RATE_LIMITED, Failure.RETRY_LATER))
    assert aliyun_sandbox.get("messages") == []
    provider.send_sms(_sms())  # the rule was for one request
    assert len(aliyun_sandbox.get("messages")) == 1


def test_a_template_refused_for_one_template_only_refuses_that_one(
    aliyun_sandbox: AliyunSandbox,
) -> None:
    """A fault can name the template Alibaba has not approved; the others still go."""
    aliyun_sandbox.fault(kind="template_not_approved", template=TEMPLATES["reminder"])
    provider = aliyun_sandbox.provider()
    provider.send_sms(_sms(1, template="broadcast"))
    with pytest.raises(ProviderError, match="找不到对应模板"):
        provider.send_sms(_sms(2, template="reminder"))
    assert [m["out_id"] for m in aliyun_sandbox.get("messages")] == ["1"]


def test_the_daily_cap_refuses_the_message_past_it(aliyun_sandbox: AliyunSandbox) -> None:
    """Over a cap of 2 a day for one number, the third is refused as over the cap."""
    aliyun_sandbox.fault(daily_cap=2)
    provider = aliyun_sandbox.provider()
    provider.send_sms(_sms(1))
    provider.send_sms(_sms(2))
    provider.send_sms(_sms(3, to="+8613800005678"))  # another number has its own count
    with pytest.raises(ProviderError) as refused:
        provider.send_sms(_sms(4))
    assert refused.value.failure is Failure.OVER_CAP


def test_a_number_alibaba_cannot_take_is_an_invalid_number(aliyun_sandbox: AliyunSandbox) -> None:
    """The sandbox checks numbers as Alibaba does: isv.MOBILE_NUMBER_ILLEGAL."""
    with pytest.raises(ProviderError) as refused:
        aliyun_sandbox.provider().send_sms(_sms(to="+860000"))
    assert (refused.value.code, refused.value.failure) == (
        "isv.MOBILE_NUMBER_ILLEGAL",
        Failure.INVALID_NUMBER,
    )


@pytest.mark.parametrize("template", ["no_such_key", None])
def test_a_message_without_an_approved_template_fails_before_any_request(
    aliyun_sandbox: AliyunSandbox, template: str | None
) -> None:
    """The template book refuses: a clear reason, not retried, nothing reaches Alibaba."""
    with pytest.raises(ProviderError) as refused:
        aliyun_sandbox.provider().send_sms(_sms(template=template))
    assert (refused.value.code, refused.value.failure) == ("template", Failure.REFUSED)
    assert "template" in refused.value.message
    assert aliyun_sandbox.get("messages") == []


def test_query_send_details_lists_every_page_with_our_row_ids(
    aliyun_sandbox: AliyunSandbox,
) -> None:
    """More than one page (50 a page) of one number's messages, found by OutId, delivered."""
    provider = aliyun_sandbox.provider()
    start = datetime.now(UTC) - timedelta(seconds=5)
    for message_id in range(1, 56):
        provider.send_sms(_sms(message_id))
    provider.send_sms(_sms(99, to="+8613800005678"))
    wait_until(lambda: all(m["send_status"] == 3 for m in aliyun_sandbox.get("messages")))

    found = provider.list_messages(TO, start)

    assert sorted(m.message_id or 0 for m in found) == list(range(1, 56))
    assert {m.delivery for m in found} == {MessageStatus.DELIVERED}
    assert {m.to for m in found} == {TO}
    assert found[0].sid == lookup_sid(found[0].message_id or 0)
    assert provider.list_messages(TO, datetime.now(UTC) + timedelta(minutes=1)) == []


def test_query_send_details_reads_a_failed_delivery(aliyun_sandbox: AliyunSandbox) -> None:
    """A message the carrier could not deliver is listed undelivered with its code."""
    aliyun_sandbox.fault(to=TO, err_code="MOBILE_NOT_ON_SERVICE")
    provider = aliyun_sandbox.provider()
    provider.send_sms(_sms(7))
    wait_until(lambda: aliyun_sandbox.get("messages")[0]["send_status"] == 2)
    [found] = provider.list_messages(TO, datetime.now(UTC) - timedelta(minutes=1))
    assert (found.delivery, found.error_code, found.failure) == (
        MessageStatus.UNDELIVERED,
        "MOBILE_NOT_ON_SERVICE",
        Failure.INVALID_NUMBER,
    )


def _signed(secret: str, **change: Any) -> dict[str, Any]:
    """A request signed the way Alibaba's documentation describes, for the check alone."""
    body = b""
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "host": "dysmsapi.aliyuncs.com",
        "x-acs-action": "SendSms",
        "x-acs-version": "2017-05-25",
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": payload_hash,
    }
    query = b"PhoneNumbers=13800001234&SignName=%E9%9D%92%E5%B1%B1&TemplateCode=SMS_1"
    names = sorted(headers)
    signature = sign(canonical_request("POST", "/", query, headers, names, payload_hash), secret)
    headers["authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={KEY_ID},SignedHeaders={';'.join(names)},"
        f"Signature={signature}"
    )
    request = {"method": "POST", "path": "/", "query_string": query, "headers": headers}
    request.update(change)
    return request


def test_the_signature_check_refuses_a_changed_request() -> None:
    """Any change to what was signed (a parameter, the body, the secret) is refused."""
    good = _signed(KEY_SECRET)
    check_signature(body=b"", key_id=KEY_ID, secret=KEY_SECRET, **good)
    changed = good["query_string"].replace(b"SMS_1", b"SMS_2")
    for request, body, code in (
        (_signed(KEY_SECRET, query_string=changed), b"", "SignatureDoesNotMatch"),
        (_signed("another-secret"), b"", "SignatureDoesNotMatch"),
        (good, b"PhoneNumbers=1", "IncompleteSignature"),
    ):
        with pytest.raises(ApiError) as refused:
            check_signature(body=body, key_id=KEY_ID, secret=KEY_SECRET, **request)
        assert refused.value.code == code


def test_provider_aliyun_needs_its_settings_and_builds_the_aliyun_provider(
    aliyun_sandbox: AliyunSandbox,
) -> None:
    """PROVIDER=aliyun names what is missing; with everything set it is the provider built."""
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"PROVIDER": "aliyun", "ALIYUN_ACCESS_KEY_ID": KEY_ID})
    assert str(refused.value) == (
        "PROVIDER=aliyun needs these settings: ALIYUN_ACCESS_KEY_SECRET, ALIYUN_SMS_SIGN_NAME, "
        "CN_CALLBACK_SECRET"
    )
    config = load_config(aliyun_sandbox.settings(), environ={})
    provider = build_provider(config)
    assert isinstance(provider, AliyunProvider)
    provider.send_sms(_sms(5))
    assert aliyun_sandbox.get("messages")[0]["sign_name"] == SIGN_NAME


def test_send_batch_sms_takes_each_number_with_its_own_sign_name_and_params(
    aliyun_sandbox: AliyunSandbox,
) -> None:
    """SendBatchSms (its lists in a signed form body): one BizId, a receipt per number."""
    from alibabacloud_dysmsapi20170525 import models as sms_models

    client = aliyun_sandbox.provider().client
    request = sms_models.SendBatchSmsRequest(
        phone_number_json='["13800001234", "13800005678"]',
        sign_name_json=f'["{SIGN_NAME}", "{SIGN_NAME}"]',
        template_code=TEMPLATES["broadcast"],
        template_param_json='[{"text": "一"}, {"text": "二"}]',
        out_id="77",
    )
    body = client.send_batch_sms(request).body
    assert body.code == "OK"
    stored = aliyun_sandbox.get("messages")
    assert [(m["to"], m["params"], m["biz_id"]) for m in stored] == [
        ("13800001234", {"text": "一"}, body.biz_id),
        ("13800005678", {"text": "二"}, body.biz_id),
    ]
    too_many = sms_models.SendBatchSmsRequest(
        phone_number_json=json.dumps([f"138{n:08d}" for n in range(101)]),
        sign_name_json=json.dumps([SIGN_NAME] * 101),
        template_code=TEMPLATES["broadcast"],
    )
    assert client.send_batch_sms(too_many).body.code == "isv.MOBILE_COUNT_OVER_LIMIT"
