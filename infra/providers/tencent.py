"""Tencent Cloud (腾讯云) SMS: template messages through the official SDK (API 2021-01-11),
and voice messages (VMS, API 2020-09-02): a spoken template that asks for one key.

Everything Tencent-specific lives here: the credentials and the endpoint, how a row's template
key and parameters become a `SendSms` request (through an injected template book), Tencent's
error codes read into the domain's Failure, and its status callback read into a Receipt.

Tencent answers a send with HTTP 200 and one `SendStatus` per number whose `Code` says whether
that number was taken ("Ok"), so a refusal comes either as the SDK's exception (the whole
request: signature, rate, internal error) or as that per-number code; both are read alike.
Its status callback carries no context of ours (only the `sid`, which is the `SerialNo` the
send returned), so receipts are matched by the sid the worker stored.

A call is one `SendTtsVoice` of the registry's spoken template (no live IVR: VMS speaks it and
reports the keys pressed). Its callbacks (`voice_event`) carry only Tencent's callid, never our
SessionContext, and come apart: a key press each, the call's status, a failure's reason;
`call_receipt` makes the items of one call into the domain's CallReceipt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
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
from tencentcloud.vms.v20200902 import models as vms_models
from tencentcloud.vms.v20200902.vms_client import VmsClient

from infra.providers.base import (
    TEMPLATE_BOOK_KEY,
    CallReceipt,
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
    resolve_each,
)
from infra.providers.templates import book_for, registry_book, spoken_template
from models.call import CallPurpose, CallStatus
from models.clock import utcnow
from models.delivery import Failure
from models.lesson import LessonPlayback
from models.message import MessageStatus
from models.sms_templates import VOICE_REPORT_QUESTION

PROVIDER = "tencent"
DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
REQUEST_TIMEOUT_S = 10
OK = "Ok"  # SendStatus.Code of a number Tencent took
# Tencent's status lookup lists a message only once the carrier reported on it, which takes
# seconds to minutes; a row stuck in `sending` younger than this may have been accepted, and
# its report (adopting the row by its number) or the lookup may still come.
LOOKUP_LAG = timedelta(minutes=30)
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


# --- Voice (VMS) constants ------------------------------------------------------------------

VMS_HOST = "vms.tencentcloudapi.com"
PLAY_TIMES = 2  # how often the prompt is spoken: Tencent's default, at most 3
# The registry's spoken template (models/sms_templates.toml, [voice.report_question]) for a
# reminder call and a callback: the monthly report question, keys 1 and 2.
REPORT_CALL = VOICE_REPORT_QUESTION
# Why a lesson call is refused (Call.error_code): VMS speaks templates, it plays no audio file.
LESSON_UNSUPPORTED = "lesson.audio_unsupported"
VMS_APP_MISSING = "config.vms_app_id"  # TENCENT_VMS_APP_ID is not set
# SendTtsVoice's own codes (tencentcloud-sdk-python-vms, vms/v20200902/errorcodes.py), where
# they read otherwise than the SMS codes of the same family.
VOICE_FAILURES: dict[str, Failure] = {
    # "下发语音消息时命中频率限制策略": Tencent's limits per called number (by default 1 in
    # 30 s, 2 in 10 minutes, 5 notifications a day, 1 from 22:00 to 08:00: "语音消息频率限制策略
    # 是什么?", cloud.tencent.com/document/product/1128/38004). Our own pace is not the cause,
    # so not RATE_LIMITED (which retries in seconds): the call may go in a later window.
    "LimitExceeded.DeliveryFrequencyLimit": Failure.RETRY_LATER,
    "InvalidParameterValue.CalledNumberVerifyFail": Failure.INVALID_NUMBER,
    "FailedOperation.TemplateIncorrectOrUnapproved": Failure.REFUSED,
    "FailedOperation.AccessUpstreamTimeout": Failure.RETRY_LATER,
}


def voice_failure_of(code: str | None) -> Failure:
    """The domain's reading of a SendTtsVoice error code."""
    return VOICE_FAILURES.get(code or "") or failure_of(code)


def call_context(call_id: int) -> str:
    """The SessionContext of a call: our Call id, echoed in SendTtsVoice's answer."""
    return f"call:{call_id}"


@dataclass(frozen=True)
class Voice:
    """What placing a call through VMS needs: the SDK's client, the voice application's
    SdkAppid (TENCENT_VMS_APP_ID; empty: calls are refused), and whether the client talks to
    the sandbox (which speaks templates not approved yet, under their key)."""

    client: VmsClient
    app_id: str
    sandbox: bool


class TencentProvider:
    """The provider over the SDK's SmsClient, whichever endpoint that client points at."""

    # Tencent lists a message only once the carrier reported on it.
    lookup_lag = LOOKUP_LAG
    lesson_playback = LessonPlayback.NONE

    def __init__(
        self,
        client: SmsClient,
        sdk_app_id: str,
        sign_name: str,
        templates: TemplateBook,
        voice: Voice | None = None,
    ) -> None:
        self.client = client
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.templates = templates
        self.voice = voice

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
        resolved = resolve_each(messages, self._template)
        for index, (sms, template) in enumerate(zip(messages, resolved, strict=True)):
            if isinstance(template, ProviderError):
                results[index] = template
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
        """`SendTtsVoice` the monthly report question to the member (a reminder call or a
        callback); return Tencent's CallId. A lesson call is refused: VMS cannot play audio."""
        if call.purpose is CallPurpose.LESSON:
            raise ProviderError(
                "Tencent Cloud voice messages speak approved templates and cannot play a "
                "lesson's audio: lessons by phone are not available under PROVIDER=tencent",
                code=LESSON_UNSUPPORTED,
            )
        voice = self.voice
        if voice is None or not voice.app_id:
            raise ProviderError(
                "TENCENT_VMS_APP_ID is not set: no calls through Tencent Cloud",
                code=VMS_APP_MISSING,
            )
        try:
            template = spoken_template(PROVIDER, REPORT_CALL, sandbox=voice.sandbox)
        except TemplateUnavailable as exc:
            raise ProviderError(str(exc), code=exc.code) from exc
        request = vms_models.SendTtsVoiceRequest()
        request.TemplateId = template.code
        request.TemplateParamSet = [str(value) for value in template.params]
        request.CalledNumber = call.to
        request.VoiceSdkAppid = voice.app_id
        request.PlayTimes = PLAY_TIMES
        request.SessionContext = call_context(call.call_id)
        try:
            response = voice.client.SendTtsVoice(request)
        except TencentCloudSDKException as exc:
            raise provider_error(exc, voice_failure_of) from exc
        call_id = str(getattr(response.SendStatus, "CallId", None) or "")
        if not call_id:
            # Taken or not, we cannot tell: the call may ring without our knowing its id.
            raise ProviderError(
                "Tencent answered SendTtsVoice without a CallId",
                failure=Failure.RETRY_LATER,
                connection_error=True,
            )
        return call_id

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


def provider_error(
    exc: TencentCloudSDKException, read: Callable[[str | None], Failure] = failure_of
) -> ProviderError:
    """The SDK's exception as a ProviderError read by its code (`read`: SMS or voice codes)."""
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
    return ProviderError(message, code=code, failure=read(code))


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
    vms_app_id: str = "",
) -> TencentProvider:
    """The provider: the SDK's SmsClient (and VmsClient) with TC3-HMAC-SHA256 signing, at
    `endpoint`; voice goes to Tencent's VMS host, or to the same sandbox."""
    where = Endpoint.parse(endpoint)
    http = HttpProfile(protocol=where.scheme, endpoint=where.host, reqTimeout=timeout)
    # Keep-alive between sends matters when a notice goes to many members.
    http.keepAlive = True
    profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
    client = SmsClient(Credential(secret_id, secret_key), region, profile)
    book = templates or registry_book(PROVIDER, sandbox=not where.is_tencent)
    voice = Voice(
        _vms_client(where, secret_id, secret_key, region, timeout),
        vms_app_id,
        sandbox=not where.is_tencent,
    )
    return TencentProvider(client, sdk_app_id, sign_name, book, voice)


def _vms_client(
    sms: Endpoint, secret_id: str, secret_key: str, region: str, timeout: int
) -> VmsClient:
    """The voice client: Tencent's VMS host beside its SMS host, or the sandbox the SMS
    endpoint names (one local service answers both)."""
    host = VMS_HOST if sms.is_tencent else sms.host
    http = HttpProfile(protocol=sms.scheme, endpoint=host, reqTimeout=timeout)
    profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
    return VmsClient(Credential(secret_id, secret_key), region, profile)


def from_config(config: Mapping[str, Any]) -> TencentProvider:
    """The provider the app's settings describe (PROVIDER=tencent)."""
    provider = build_tencent(
        secret_id=str(config["TENCENT_SECRET_ID"]),
        secret_key=str(config["TENCENT_SECRET_KEY"]),
        sdk_app_id=str(config["TENCENT_SMS_SDK_APP_ID"]),
        sign_name=str(config["TENCENT_SMS_SIGN_NAME"]),
        region=str(config["TENCENT_REGION"]),
        endpoint=str(config["TENCENT_SMS_ENDPOINT"]),
        templates=book_for(config, sandbox=is_sandbox(config)),
        vms_app_id=str(config.get("TENCENT_VMS_APP_ID") or ""),
    )
    provider.lookup_lag = timedelta(
        seconds=int(config.get("TENCENT_LOOKUP_LAG_SECONDS", LOOKUP_LAG.total_seconds()))
    )
    return provider


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


# --- The voice callback (voice-status) ------------------------------------------------------

# Its three kinds, each one object under its own name ("语音通知状态通知", "语音通知按键通知",
# "语音送达失败原因通知": cloud.tencent.com/document/product/1128/51534, 51535, 51536).
VOICE_STATUS = "voiceprompt_callback"
VOICE_KEY = "voicekey_callback"
VOICE_FAILURE = "voice_failure_callback"
VOICE_KINDS = {VOICE_STATUS: "status", VOICE_KEY: "key", VOICE_FAILURE: "failure"}
# voiceprompt_callback.result: 0 answered, 1 not answered, 2 the call failed.
PROMPT_RESULTS = {"0": CallStatus.COMPLETED, "1": CallStatus.NO_ANSWER, "2": CallStatus.FAILED}
# voice_failure_callback.failure_code ("推送回执相关错误码", document/api/1128/37531):
# 2 通话中 and 10 用户正忙 are busy, 5 无人接听 and 20 无应答 no answer; the rest failed.
FAILURE_STATUSES = {
    2: CallStatus.BUSY,
    10: CallStatus.BUSY,
    5: CallStatus.NO_ANSWER,
    20: CallStatus.NO_ANSWER,
}


@dataclass(frozen=True)
class VoiceEvent:
    """One item of Tencent's voice callback: which kind ("status", "key" or "failure"), the
    call (Tencent's callid) and number, and what it says (how the call ended, or the key)."""

    kind: str
    call_sid: str
    to: str  # E.164
    status: CallStatus | None = None  # status and failure items
    duration: int | None = None  # seconds the member was on the line (status items)
    key: str = ""  # the key pressed (key items)
    error_code: str | None = None  # failure_code (failure items)

    @property
    def identity(self) -> str:
        """What a repeat of this item has the same: call, kind and what it says."""
        said = self.key if self.kind == "key" else f"{self.status}:{self.error_code or ''}"
        return f"{self.call_sid}:{self.kind}:{said}"


def voice_event(item: Mapping[str, Any]) -> VoiceEvent:
    """One voice callback object as a VoiceEvent; ValueError if it is none of the three."""
    kinds = [name for name in VOICE_KINDS if name in item]
    if len(kinds) != 1 or not isinstance(item[kinds[0]], Mapping):
        raise ValueError("not one of " + ", ".join(VOICE_KINDS))
    name = kinds[0]
    body: Mapping[str, Any] = item[name]
    call_sid = str(body.get("callid") or "").strip()
    mobile = str(body.get("mobile") or "").strip()
    if not call_sid or len(call_sid) > 64:
        raise ValueError("no callid")
    if not mobile.isdigit():
        raise ValueError("no mobile number")
    to = national_to_e164(str(body.get("nationcode") or ""), mobile)
    kind = VOICE_KINDS[name]
    if kind == "key":
        key = str(body.get("keypress") or "").strip()
        if not key or len(key) > 8:
            raise ValueError("no keypress")
        return VoiceEvent(kind, call_sid, to, key=key)
    if kind == "failure":
        code = body.get("failure_code")
        if isinstance(code, bool) or not str(code).strip().isdigit():
            raise ValueError("failure_code is not a number")
        number = int(str(code).strip())
        status = FAILURE_STATUSES.get(number, CallStatus.FAILED)
        return VoiceEvent(kind, call_sid, to, status=status, error_code=str(number))
    result = str(body.get("result", "")).strip()
    if result not in PROMPT_RESULTS:
        raise ValueError(f"result is not 0, 1 or 2: {result!r}")
    status = PROMPT_RESULTS[result]
    duration = 0
    if status is CallStatus.COMPLETED:
        accepted, ended = _seconds(body.get("accept_time")), _seconds(body.get("end_calltime"))
        if accepted is None or ended is None:
            raise ValueError("an answered call without accept_time and end_calltime")
        duration = max(0, ended - accepted)
    return VoiceEvent(kind, call_sid, to, status=status, duration=duration)


def _seconds(value: Any) -> int | None:
    """A Unix time Tencent sends as a string of digits (or a number)."""
    if isinstance(value, bool) or not str(value).strip().isdigit():
        return None
    return int(str(value).strip())


def call_receipt(events: Sequence[VoiceEvent]) -> CallReceipt | None:
    """The receipt what was pushed for one call makes: how it ended (its status item, else
    its failure item), with the keys pressed in the order they were stored; None while no
    item has said how the call ended."""
    ending = next((e for e in events if e.kind == "status"), None) or next(
        (e for e in events if e.kind == "failure"), None
    )
    if ending is None or ending.status is None:
        return None
    failure = next((e for e in events if e.kind == "failure"), None)
    return CallReceipt(
        call_id=None,
        call_sid=ending.call_sid,
        status=ending.status,
        duration=ending.duration,
        keys="".join(e.key for e in events if e.kind == "key"),
        error_code=failure.error_code if failure is not None else None,
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
    "VoiceEvent",
    "build_tencent",
    "call_context",
    "call_receipt",
    "failure_of",
    "from_config",
    "national_to_e164",
    "provider_error",
    "reply_text",
    "session_context",
    "status_receipt",
    "voice_event",
    "voice_failure_of",
]
