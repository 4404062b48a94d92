"""Tencent Cloud (腾讯云) SMS: template messages through the official SDK (API 2021-01-11).

Everything Tencent-specific lives here: the credentials and the endpoint, how a row's template
key and parameters become a `SendSms` request (through an injected template book), Tencent's
error codes read into the domain's Failure, and its status callback read into a Receipt.

Tencent answers a send with HTTP 200 and one `SendStatus` per number whose `Code` says whether
that number was taken ("Ok"), so a refusal comes either as the SDK's exception (the whole
request: signature, rate, internal error) or as that per-number code; both are read alike.
Its status callback carries no context of ours (only the `sid`, which is the `SerialNo` the
send returned), so receipts are matched by the sid the worker stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as sms_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from infra.providers.base import (
    TEMPLATE_BOOK_KEY,
    OutboundCall,
    OutboundSms,
    ProviderError,
    PushedText,
    Receipt,
    RecordingAudio,
    RecordingRefused,
    ResolvedTemplate,
    SentMessage,
    TemplateBook,
    TemplateUnavailable,
)
from infra.providers.templates import book_for, registry_book
from models.clock import utcnow
from models.delivery import Failure
from models.message import MessageStatus

PROVIDER = "tencent"
DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
REQUEST_TIMEOUT_S = 10
OK = "Ok"  # SendStatus.Code of a number Tencent took
# SendSms takes up to 200 numbers a request, all with the same template and parameters.
MAX_NUMBERS = 200
PULL_WINDOW = timedelta(days=7)  # how far back Tencent's status records go
PULL_LIMIT = 100
# Where the template book's refusal is kept (Message.error_code) when it names no code.
TEMPLATE_ERROR = "template.unavailable"  # a row with no template key at all

# Tencent's codes, as listed in "错误码" (https://cloud.tencent.com/document/api/382/59177,
# SMS API 3.0 send error codes) and the common error codes
# (https://cloud.tencent.com/document/api/382/52075), read into what the domain does.
FAILURES: dict[str, Failure] = {
    # Over the per-number daily cap (Tencent's default: 2 a day; the carriers': 10). Sending
    # again the same day only counts against the cap once more, so the row fails with the code
    # (the domain has no "wait for tomorrow" outcome yet: the caps are to be enforced in the
    # outbox before the provider is asked).
    "LimitExceeded.PhoneNumberDailyLimit": Failure.OVER_CAP,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": Failure.OVER_CAP,
    # Short windows (30 s, one hour, the account's frequency policy): later may go through.
    "LimitExceeded.PhoneNumberThirtySecondLimit": Failure.RETRY_LATER,
    "LimitExceeded.PhoneNumberOneHourLimit": Failure.RETRY_LATER,
    "LimitExceeded.DeliveryFrequencyLimit": Failure.RETRY_LATER,
    "InvalidParameterValue.IncorrectPhoneNumber": Failure.INVALID_NUMBER,
    "FailedOperation.PhoneNumberParseFail": Failure.INVALID_NUMBER,
    # "手机号在免打扰名单库中，通常是用户退订或者命中运营商免打扰名单导致的"
    "FailedOperation.PhoneNumberInBlacklist": Failure.OPTED_OUT,
    "FailedOperation.TemplateIncorrectOrUnapproved": Failure.REFUSED,
    "FailedOperation.SignatureIncorrectOrUnapproved": Failure.REFUSED,
    "RequestLimitExceeded": Failure.RATE_LIMITED,
}
# Whole families: any InternalError.* is Tencent's fault, any RequestLimitExceeded.* our pace.
FAILURE_PREFIXES: tuple[tuple[str, Failure], ...] = (
    ("InternalError", Failure.RETRY_LATER),
    ("RequestLimitExceeded", Failure.RATE_LIMITED),
)
# The SDK's own codes for a request that did not get a Tencent answer.
NETWORK_ERROR = "ClientNetworkError"  # the connection failed: the send may have gone through
SERVER_ERROR = "ServerNetworkError"  # an HTTP status other than 200


def failure_of(code: str | None) -> Failure:
    """The domain's reading of a Tencent error code (per number, or of the whole request)."""
    code = code or ""
    known = FAILURES.get(code)
    if known is not None:
        return known
    for prefix, failure in FAILURE_PREFIXES:
        if code == prefix or code.startswith(prefix + "."):
            return failure
    return Failure.REFUSED


# The status callback's report_status. Its errmsg is the carriers' receipt code (DELIVRD on
# success; 状态回执错误码, https://cloud.tencent.com/document/product/382/3771): kept on the row
# as its error code, but not read into a Failure, since the carriers' codes are not one list
# Tencent documents as stable.
REPORT_DELIVERIES: dict[str, MessageStatus] = {
    "SUCCESS": MessageStatus.DELIVERED,
    "FAIL": MessageStatus.UNDELIVERED,
}


@dataclass(frozen=True)
class Endpoint:
    """TENCENT_SMS_ENDPOINT as the SDK's HttpProfile wants it: a scheme and a host[:port]."""

    scheme: str
    host: str

    @classmethod
    def parse(cls, setting: str) -> Endpoint:
        """`sms.tencentcloudapi.com` (https) or `http://127.0.0.1:5055` (the sandbox)."""
        text = setting.strip()
        if "://" not in text:
            text = "https://" + text
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ValueError(
                f"not an endpoint (host, host:port or http(s)://host:port): {setting!r}"
            )
        if parts.username or parts.password or parts.query:
            raise ValueError(f"an endpoint has no user, password or query: {setting!r}")
        return cls(parts.scheme, parts.netloc)

    @property
    def is_tencent(self) -> bool:
        """True for Tencent's own API host (production), False for the sandbox or a stand-in."""
        host = self.host.split(":")[0].lower()
        return self.scheme == "https" and (
            host == "tencentcloudapi.com" or host.endswith(".tencentcloudapi.com")
        )


def session_context(message_id: int) -> str:
    """The SessionContext we send: our row id, which Tencent gives back in its answer."""
    return f"msg:{message_id}"


class TencentProvider:
    """The provider over the SDK's SmsClient, whichever endpoint that client points at."""

    def __init__(
        self, client: SmsClient, sdk_app_id: str, sign_name: str, templates: TemplateBook
    ) -> None:
        self.client = client
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.templates = templates

    max_batch = MAX_NUMBERS

    def _template(self, sms: OutboundSms) -> ResolvedTemplate:
        """The approved template the row goes out as; ProviderError naming why there is none."""
        if not sms.template:
            raise ProviderError(
                "Tencent Cloud sends approved templates only; this row has no template key",
                code=TEMPLATE_ERROR,
            )
        try:
            return self.templates.resolve(PROVIDER, sms.template, sms.params)
        except TemplateUnavailable as exc:
            raise ProviderError(str(exc), code=exc.code) from exc

    def send_sms(self, sms: OutboundSms) -> SentMessage:
        """`SendSms` the row's template to its one number; ProviderError when not taken."""
        [answer] = self._send(self._template(sms), [sms])
        if isinstance(answer, ProviderError):
            raise answer
        return answer

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SentMessage | ProviderError]:
        """Rows with the same template, sign name and parameters (a notice's) go in one
        `SendSms` of up to 200 numbers; one answer per row, in order."""
        results: list[SentMessage | ProviderError | None] = [None] * len(messages)
        groups: dict[tuple[str, str, tuple[str, ...]], list[tuple[int, OutboundSms]]] = {}
        templates: dict[tuple[str, str, tuple[str, ...]], ResolvedTemplate] = {}
        for index, sms in enumerate(messages):
            try:
                template = self._template(sms)
            except ProviderError as exc:
                results[index] = exc
                continue
            key = (
                template.code,
                template.sign_name or self.sign_name,
                tuple(str(value) for value in template.params),
            )
            groups.setdefault(key, []).append((index, sms))
            templates.setdefault(key, template)
        for key, group in groups.items():
            for request in _requests(group):
                answers = self._send(templates[key], [sms for _, sms in request])
                for (index, _), answer in zip(request, answers, strict=True):
                    results[index] = answer
        answers = [result for result in results if result is not None]
        assert len(answers) == len(messages)  # every row is in one group and one request
        return answers

    def _send(
        self, template: ResolvedTemplate, rows: list[OutboundSms]
    ) -> list[SentMessage | ProviderError]:
        """One SendSms to these rows' numbers (no number twice); each row's answer from its
        number's SendStatus. A refusal of the request is every row's."""
        request = sms_models.SendSmsRequest()
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = template.sign_name or self.sign_name
        request.TemplateId = template.code
        request.TemplateParamSet = [str(value) for value in template.params]
        request.PhoneNumberSet = [sms.to for sms in rows]
        # Echoed in the answer (SendStatus.SessionContext); the status callback does not carry it.
        request.SessionContext = session_context(rows[0].message_id)
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            return [provider_error(exc)] * len(rows)
        statuses = {str(status.PhoneNumber): status for status in response.SendStatusSet or []}
        if len(rows) == 1 and len(statuses) == 1:
            statuses = {rows[0].to: next(iter(statuses.values()))}
        answers: list[SentMessage | ProviderError] = []
        for sms in rows:
            status = statuses.get(sms.to)
            if status is None:
                # An answer without the number's status: it may or may not have been taken.
                answers.append(
                    ProviderError(
                        "Tencent answered without a send status",
                        failure=Failure.RETRY_LATER,
                        connection_error=True,
                    )
                )
                continue
            code = str(status.Code or "")
            if code != OK:
                answers.append(
                    ProviderError(
                        str(status.Message or "refused by Tencent Cloud"),
                        code=code or None,
                        failure=failure_of(code),
                    )
                )
                continue
            answers.append(
                SentMessage(
                    sid=str(status.SerialNo),
                    to=sms.to,
                    body=sms.body,
                    delivery=MessageStatus.SENT,
                    date_created=utcnow(),
                )
            )
        return answers

    def place_call(self, call: OutboundCall) -> str:
        """Voice through Tencent (VMS) is not built yet."""
        raise ProviderError("calls through Tencent Cloud are not supported yet")

    def list_messages(self, to: str, sent_after: datetime) -> list[SentMessage]:
        """Tencent's status records for `to` since `sent_after` (PullSmsSendStatusByPhoneNumber).

        Tencent keeps them seven days and lists a message only once the carrier reported on
        it; a record carries no text (`body` is empty) and, unless Tencent enables it for the
        account, not our SessionContext either, so reconciliation cannot match them by body.
        """
        if sent_after.tzinfo is None:
            sent_after = sent_after.replace(tzinfo=UTC)
        now = utcnow()
        begin = max(sent_after, now - PULL_WINDOW)
        if begin > now:
            return []
        request = sms_models.PullSmsSendStatusByPhoneNumberRequest()
        request.SmsSdkAppId = self.sdk_app_id
        request.PhoneNumber = to
        request.BeginTime = int(begin.timestamp())
        request.EndTime = int(now.timestamp()) + 1
        request.Offset = 0  # "目前固定设置为0"
        request.Limit = PULL_LIMIT
        try:
            response = self.client.PullSmsSendStatusByPhoneNumber(request)
        except TencentCloudSDKException as exc:
            raise provider_error(exc) from exc
        found = []
        for record in response.PullSmsSendStatusSet or []:
            report = str(record.ReportStatus or "").upper()
            delivery = REPORT_DELIVERIES.get(report, MessageStatus.SENT)
            failed = delivery is MessageStatus.UNDELIVERED
            received = record.UserReceiveTime
            found.append(
                SentMessage(
                    sid=str(record.SerialNo),
                    to=str(record.PhoneNumber or to),
                    body="",
                    delivery=delivery,
                    date_created=datetime.fromtimestamp(int(received), UTC) if received else None,
                    error_code=str(record.Description or "FAIL")[:64] if failed else None,
                )
            )
        return found

    def recording_url_allowed(self, url: str) -> bool:
        """Tencent SMS has no recordings."""
        return False

    def fetch_recording(self, url: str) -> RecordingAudio:
        """Refused: there are no Tencent recordings to fetch."""
        raise RecordingRefused("Tencent Cloud has no recordings to fetch")


def _requests(group: list[tuple[int, OutboundSms]]) -> list[list[tuple[int, OutboundSms]]]:
    """Rows with the same parameters cut into requests of up to 200 numbers; a number's second
    row waits for a later request."""
    requests: list[list[tuple[int, OutboundSms]]] = []
    pending = group
    while pending:
        current: list[tuple[int, OutboundSms]] = []
        numbers: set[str] = set()
        later: list[tuple[int, OutboundSms]] = []
        for entry in pending:
            if len(current) >= MAX_NUMBERS or entry[1].to in numbers:
                later.append(entry)
                continue
            current.append(entry)
            numbers.add(entry[1].to)
        requests.append(current)
        pending = later
    return requests


def provider_error(exc: TencentCloudSDKException) -> ProviderError:
    """The SDK's exception as a ProviderError read by its code."""
    code = str(exc.get_code() or "") or None
    message = str(exc.get_message() or code or "Tencent Cloud error")
    if code == NETWORK_ERROR:
        return ProviderError(
            f"provider unreachable: {message}",
            failure=Failure.RETRY_LATER,
            code=code,
            connection_error=True,
        )
    if code == SERVER_ERROR:
        return ProviderError(
            f"provider answered with an error: {message[:200]}",
            failure=Failure.RETRY_LATER,
            code=code,
        )
    return ProviderError(message, code=code, failure=failure_of(code))


def build_tencent(
    *,
    secret_id: str,
    secret_key: str,
    sdk_app_id: str,
    sign_name: str,
    region: str = "ap-guangzhou",
    endpoint: str = DEFAULT_ENDPOINT,
    templates: TemplateBook | None = None,
    timeout: int = REQUEST_TIMEOUT_S,
) -> TencentProvider:
    """The provider: the SDK's SmsClient with TC3-HMAC-SHA256 signing, at `endpoint`."""
    where = Endpoint.parse(endpoint)
    http = HttpProfile(protocol=where.scheme, endpoint=where.host, reqTimeout=timeout)
    # Keep-alive between sends matters when a notice goes to many members.
    http.keepAlive = True
    profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
    client = SmsClient(Credential(secret_id, secret_key), region, profile)
    book = templates or registry_book(PROVIDER, sandbox=not where.is_tencent)
    return TencentProvider(client, sdk_app_id, sign_name, book)


def from_config(config: Mapping[str, Any]) -> TencentProvider:
    """The provider the app's settings describe (PROVIDER=tencent)."""
    return build_tencent(
        secret_id=str(config["TENCENT_SECRET_ID"]),
        secret_key=str(config["TENCENT_SECRET_KEY"]),
        sdk_app_id=str(config["TENCENT_SMS_SDK_APP_ID"]),
        sign_name=str(config["TENCENT_SMS_SIGN_NAME"]),
        region=str(config["TENCENT_REGION"]),
        endpoint=str(config["TENCENT_SMS_ENDPOINT"]),
        templates=book_for(config, sandbox=is_sandbox(config)),
    )


def is_sandbox(config: Mapping[str, Any]) -> bool:
    """Whether TENCENT_SMS_ENDPOINT is not Tencent's own host (the sandbox's copy of its API)."""
    return not Endpoint.parse(str(config["TENCENT_SMS_ENDPOINT"])).is_tencent


def national_to_e164(nationcode: str, mobile: str) -> str:
    """Tencent's (nationcode, mobile) pair as the E.164 number our rows keep."""
    return f"+{nationcode.strip().lstrip('+') or '86'}{mobile.strip()}"


def status_receipt(item: Mapping[str, Any]) -> Receipt:
    """One item of the status callback (`sms-status`) as a Receipt; ValueError if unreadable.

    errmsg is the carrier's receipt code (DELIVRD on success), kept as the row's error code
    when the message was not delivered.
    """
    sid = str(item.get("sid") or "").strip()
    report = str(item.get("report_status") or "").strip().upper()
    mobile = str(item.get("mobile") or "").strip()
    if not sid:
        raise ValueError("no sid")
    if report not in REPORT_DELIVERIES:
        raise ValueError(f"report_status is not SUCCESS or FAIL: {report!r}")
    if not mobile.isdigit():
        raise ValueError("no mobile number")
    delivery = REPORT_DELIVERIES[report]
    errmsg = str(item.get("errmsg") or "").strip()
    failed = delivery is not MessageStatus.DELIVERED
    return Receipt(
        sid=sid[:64],
        delivery=delivery,
        to=national_to_e164(str(item.get("nationcode") or ""), mobile),
        error_code=(errmsg or "FAIL")[:64] if failed else None,
    )


def reply_text(item: Mapping[str, Any]) -> PushedText:
    """One reply callback object (`sms-reply`) as a PushedText; ValueError if unreadable.

    Tencent gives a reply no id of its own: one member's same text at the same second is the
    same reply, so its key is the number, the time and (a digest of) the text.
    """
    mobile = str(item.get("mobile") or "").strip()
    text = item.get("text")
    when = item.get("time")
    if not mobile.isdigit():
        raise ValueError("no mobile number")
    if not isinstance(text, str) or not text:
        raise ValueError("no text")
    if isinstance(when, bool) or not isinstance(when, (int, str)) or not str(when).isdigit():
        raise ValueError("time is not a Unix timestamp")
    seconds = int(when)
    phone = national_to_e164(str(item.get("nationcode") or ""), mobile)
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return PushedText(
        provider=PROVIDER,
        phone=phone,
        text=text,
        sent_at=datetime.fromtimestamp(seconds, UTC),
        key=f"{phone}:{seconds}:{digest}",
    )


__all__ = [
    "FAILURES",
    "PROVIDER",
    "TEMPLATE_BOOK_KEY",
    "Endpoint",
    "ResolvedTemplate",
    "TemplateBook",
    "TemplateUnavailable",
    "TencentProvider",
    "build_tencent",
    "failure_of",
    "from_config",
    "national_to_e164",
    "provider_error",
    "reply_text",
    "session_context",
    "status_receipt",
]
