"""Alibaba Cloud SMS (阿里云短信, dysmsapi 2017-05-25) through its official SDK.

Everything Alibaba-specific lives here: the AccessKey, the endpoint (Alibaba's, or the sandbox's
`host:port` over http), the template book that turns our template keys into approved template
codes and a signature (签名), Alibaba's error codes read into the domain's Failure, its phone
number format, and its pushed receipts (SmsReport) read into a Receipt.

Alibaba signs nothing it pushes and sends no free text: a message is a template code, a sign
name and the template's parameters as JSON. Our row's id goes out as `OutId` and comes back in
every receipt and in QuerySendDetails, so a receipt finds its row even before the BizId is
stored, and a row stuck in `sending` is found again by its id, not by its text.

Rows handed over together that share a template go in one SendBatchSms of up to 100 numbers,
each with its own sign name and parameters. SendBatchSms takes one OutId for the request, not
one a number, so a batch's OutId lists its rows' ids (`b12-40,57`): a row is its batch's
number with that phone (a batch never holds a number twice). The row keeps `BizId:number` as
its sid, which its receipt names too; a lookup (QuerySendDetails) finds it by the OutId's ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from infra.providers.aliyun_sdk import call_sdk
from infra.providers.aliyun_voice import AliyunVoice, review_of, voice_from_config

# The SDK is imported where it is used: it takes longer to import than the rest of the app's
# providers together, and a web process only reads Alibaba's pushes (no SDK needed).
from infra.providers.base import (
    OutboundCall,
    OutboundSms,
    ProviderError,
    Receipt,
    RecordingAudio,
    RecordingRefused,
    ResolvedTemplate,
    SentMessage,
    TemplateBook,
    TemplateUnavailable,
    VoiceFileReview,
    failure_of_status,
    resolve_each,
)
from infra.providers.templates import book_for
from models.delivery import Failure
from models.lesson import LessonPlayback
from models.message import MessageStatus
from models.numbers import parse_int

PROVIDER = "aliyun"
DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
# Alibaba's times (SendDate, send_time, report_time) are Beijing time without an offset.
BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# QuerySendDetails: one number, one day (yyyyMMdd) and at most 50 records a page.
QUERY_PAGE_SIZE = 50
QUERY_MAX_PAGES = 20
# Alibaba keeps send details for 30 days.
QUERY_MAX_DAYS = 30
# SendBatchSms: at most 100 numbers a request; OutId shorter than 256 characters.
MAX_BATCH_NUMBERS = 100
MAX_OUT_ID = 255
BATCH_OUT_ID_PREFIX = "b"
# A whole batch refused for what one number is (over its cap, not a mobile number): the rows
# are sent again one by one, so the refusal lands on its own row and the others still go.
PER_NUMBER_FAILURES = frozenset({Failure.OVER_CAP, Failure.INVALID_NUMBER, Failure.OPTED_OUT})
# What our receipt feed stores in Message.error_code when the template book refused a row.
TEMPLATE_ERROR_CODE = "template"

# Alibaba's API error codes (国内消息API错误码,
# https://help.aliyun.com/zh/sms/developer-reference/api-error-codes, and the gateway's common
# codes such as Throttling.User and SignatureDoesNotMatch) read into the domain's Failure.
# Anything not listed is REFUSED: the account, signature, template or content, which no retry
# fixes; the code is kept on the row for someone to read.
FAILURES: dict[str, Failure] = {
    "isv.MOBILE_NUMBER_ILLEGAL": Failure.INVALID_NUMBER,  # 手机号码格式错误
    "isv.PHONE_NUMBER_ILLEGAL": Failure.INVALID_NUMBER,
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": Failure.INVALID_NUMBER,
    # Per number and signature: 1 a minute, 5 an hour, 10 (notices: 50 per template) a day for
    # verification codes. Every accepted request counts, so sending again only adds to it:
    # the cap is read as "not before tomorrow" (OVER_CAP, never retried the same day).
    "isv.BUSINESS_LIMIT_CONTROL": Failure.OVER_CAP,
    "isv.DAY_LIMIT_CONTROL": Failure.OVER_CAP,  # the account's own daily total (console)
    "isv.MONTH_LIMIT_CONTROL": Failure.REFUSED,  # the account's monthly total: a person decides
    # The API's queries per second: slow down and try again in a moment.
    "Throttling.User": Failure.RATE_LIMITED,
    "Throttling": Failure.RATE_LIMITED,
    "Throttling.Api": Failure.RATE_LIMITED,
    "isp.SYSTEM_ERROR": Failure.RETRY_LATER,  # 系统错误: try again
    "isp.GATEWAY_ERROR": Failure.RETRY_LATER,
    "ServiceUnavailable": Failure.RETRY_LATER,
    "InternalError": Failure.RETRY_LATER,
    # Refusals spelled out for the reader (REFUSED is also the default).
    "isp.RAM_PERMISSION_DENY": Failure.REFUSED,  # the AccessKey lacks AliyunDysmsFullAccess
    "isv.SMS_TEMPLATE_ILLEGAL": Failure.REFUSED,  # template not found or not approved
    "isv.SMS_SIGNATURE_ILLEGAL": Failure.REFUSED,  # signature not found or not approved
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": Failure.REFUSED,
    "isv.TEMPLATE_MISSING_PARAMETERS": Failure.REFUSED,
    "isv.TEMPLATE_PARAMS_ILLEGAL": Failure.REFUSED,
    "isv.PARAM_LENGTH_LIMIT": Failure.REFUSED,
    "isv.SMS_CONTENT_ILLEGAL": Failure.REFUSED,
    "isv.OUT_OF_SERVICE": Failure.REFUSED,  # balance exhausted
    "isv.AMOUNT_NOT_ENOUGH": Failure.REFUSED,
    "SignatureDoesNotMatch": Failure.REFUSED,  # our AccessKey secret is wrong
    "InvalidAccessKeyId.NotFound": Failure.REFUSED,
}

# Receipt codes (回执错误码) that say something lasting about the number.
DELIVERY_FAILURES: dict[str, Failure] = {
    "MOBILE_NOT_ON_SERVICE": Failure.INVALID_NUMBER,  # 停机
    "MOBILE_NUMBER_ILLEGAL": Failure.INVALID_NUMBER,
    "MOBILE_IN_BLACK": Failure.OPTED_OUT,  # the member is on the carrier's do-not-send list
    "MOBILE_ACCOUNT_ABNORMAL": Failure.UNREACHABLE,
    "MOBILE_TERMINAL_ERROR": Failure.UNREACHABLE,
    "SUBSCRIBER_FAILURE": Failure.UNREACHABLE,
    "ERRNUM_OUT_OF_RANGE": Failure.INVALID_NUMBER,
}
# QuerySendDetails' SendStatus: 1 waiting for the receipt, 2 failed, 3 delivered.
SEND_STATUSES: dict[int, MessageStatus] = {
    1: MessageStatus.SENT,
    2: MessageStatus.UNDELIVERED,
    3: MessageStatus.DELIVERED,
}


def failure_of(code: str | None, status: int | None = None) -> Failure:
    """The domain's reading of a refusal: by Alibaba's code first, then by the HTTP status."""
    return FAILURES.get(code or "") or failure_of_status(status)


def delivery_failure(code: str | None) -> Failure | None:
    """What a receipt's err_code on an undelivered message says about the recipient."""
    return DELIVERY_FAILURES.get(code or "")


def to_aliyun_number(phone: str) -> str:
    """E.164 as Alibaba takes it: 11 digits for the mainland, country code and number else."""
    digits = phone.strip().removeprefix("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def from_aliyun_number(number: str) -> str:
    """A number Alibaba gave back (11 mainland digits, or with its country code) as E.164."""
    digits = str(number).strip().removeprefix("+")
    if len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    return "+" + digits


def beijing_time(text: str | None) -> datetime | None:
    """`2017-01-01 00:00:00` (Beijing time) as a UTC datetime."""
    if not text:
        return None
    try:
        local = datetime.strptime(str(text).strip(), TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        return None
    return local.astimezone(UTC)


def lookup_sid(out_id: int | str) -> str:
    """The sid a row adopts when QuerySendDetails found it by OutId (it gives no BizId)."""
    return f"out:{out_id}"


def batch_out_id(message_ids: Sequence[int]) -> str:
    """The OutId of a SendBatchSms: our row ids as sorted ranges, `b12-40,57`."""
    ranges: list[list[int]] = []
    for message_id in sorted(set(message_ids)):
        if ranges and ranges[-1][1] == message_id - 1:
            ranges[-1][1] = message_id
        else:
            ranges.append([message_id, message_id])
    return BATCH_OUT_ID_PREFIX + ",".join(
        str(first) if first == last else f"{first}-{last}" for first, last in ranges
    )


def batch_ids(out_id: str | None) -> frozenset[int]:
    """The row ids a batch's OutId lists; empty for any other OutId (one row's, or none)."""
    text = str(out_id or "")
    if not text.startswith(BATCH_OUT_ID_PREFIX):
        return frozenset()
    ids: set[int] = set()
    for part in text.removeprefix(BATCH_OUT_ID_PREFIX).split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            return frozenset()
        span = range(int(first), int(last or first) + 1)
        if len(ids) + len(span) > MAX_BATCH_NUMBERS:
            return frozenset()  # no batch of ours: never expand what a push made up
        ids.update(span)
    return frozenset(ids)


def batch_sid(biz_id: str, phone: str) -> str:
    """The sid of one number's message in a batch: the batch's BizId and the number."""
    return f"{biz_id}:{to_aliyun_number(phone)}"[:64]


def batch_lookup_sid(out_id: str, phone: str) -> str:
    """The sid a batch row adopts when QuerySendDetails found it (it gives no BizId)."""
    digest = hashlib.sha256(str(out_id).encode()).hexdigest()[:16]
    return f"outb:{digest}:{to_aliyun_number(phone)}"


class AliyunProvider:
    """The provider over a dysmsapi `Client`, whichever endpoint that client points at."""

    # QuerySendDetails lists a message as soon as it is accepted (status 1, waiting).
    lookup_lag = timedelta(0)
    lesson_playback = LessonPlayback.APPROVED_FILE
    max_batch = MAX_BATCH_NUMBERS

    def __init__(
        self,
        client: Any,  # alibabacloud_dysmsapi20170525.client.Client
        templates: TemplateBook,
        sign_name: str,
        *,
        timeout_ms: int = 10_000,
        voice: AliyunVoice | None = None,
    ) -> None:
        self.client = client
        self.templates = templates
        self.sign_name = sign_name
        self.timeout_ms = timeout_ms
        self.voice = voice  # the dyvms client (infra.providers.aliyun_voice); None: no calls

    def _runtime(self) -> Any:
        from darabonba.runtime import RuntimeOptions

        # No retries inside the SDK: the outbox decides what is retried, and a send is not
        # idempotent at Alibaba.
        return RuntimeOptions(
            read_timeout=self.timeout_ms, connect_timeout=self.timeout_ms, autoretry=False
        )

    def _template(self, sms: OutboundSms) -> ResolvedTemplate:
        """The approved template the row goes out as; ProviderError naming why there is none."""
        if not sms.template:
            raise ProviderError(
                "Alibaba Cloud sends templates only; this message has none",
                code=TEMPLATE_ERROR_CODE,
            )
        try:
            return self.templates.resolve(PROVIDER, sms.template, sms.params)
        except TemplateUnavailable as exc:
            raise ProviderError(str(exc), code=TEMPLATE_ERROR_CODE) from exc

    def send_sms(self, sms: OutboundSms) -> SentMessage:
        """SendSms with the approved template, the sign name, the params and OutId = our id."""
        return self._send_one(sms, self._template(sms))

    def _send_one(self, sms: OutboundSms, template: ResolvedTemplate) -> SentMessage:
        from alibabacloud_dysmsapi20170525 import models as sms_models

        request = sms_models.SendSmsRequest(
            phone_numbers=to_aliyun_number(sms.to),
            sign_name=template.sign_name or self.sign_name,
            template_code=template.code,
            template_param=json.dumps(template.params, ensure_ascii=False),
            out_id=str(sms.message_id),
        )
        body = self._call(self.client.send_sms_with_options, request)
        return SentMessage(
            sid=str(body.biz_id),
            to=sms.to,
            body=sms.body,
            delivery=MessageStatus.SENT,
            date_created=datetime.now(UTC),
        )

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SentMessage | ProviderError]:
        """Rows sharing a template code go in SendBatchSms requests of up to 100 numbers (a
        lone row in SendSms); one answer per row, in order."""
        results: list[SentMessage | ProviderError | None] = [None] * len(messages)
        groups: dict[str, list[tuple[int, OutboundSms, ResolvedTemplate]]] = {}
        resolved = resolve_each(messages, self._template)
        for index, (sms, template) in enumerate(zip(messages, resolved, strict=True)):
            if isinstance(template, ProviderError):
                results[index] = template
                continue
            groups.setdefault(template.code, []).append((index, sms, template))
        for group in groups.values():
            for request in _batch_requests(group):
                for index, result in zip(
                    [index for index, _, _ in request], self._send_request(request), strict=True
                ):
                    results[index] = result
        answers = [result for result in results if result is not None]
        assert len(answers) == len(messages)  # every row is in one group and one request
        return answers

    def _send_request(
        self, request: list[tuple[int, OutboundSms, ResolvedTemplate]]
    ) -> list[SentMessage | ProviderError]:
        """One request's rows: SendSms for one, SendBatchSms for more."""
        if len(request) == 1:
            _, sms, template = request[0]
            return [self._answer(partial(self._send_one, sms, template))]
        from alibabacloud_dysmsapi20170525 import models as sms_models

        rows = [sms for _, sms, _ in request]
        templates = [template for _, _, template in request]
        batch = sms_models.SendBatchSmsRequest(
            phone_number_json=json.dumps([to_aliyun_number(sms.to) for sms in rows]),
            sign_name_json=json.dumps(
                [template.sign_name or self.sign_name for template in templates],
                ensure_ascii=False,
            ),
            template_code=templates[0].code,
            template_param_json=json.dumps(
                [template.params for template in templates], ensure_ascii=False
            ),
            out_id=batch_out_id([sms.message_id for sms in rows]),
        )
        try:
            body = self._call(self.client.send_batch_sms_with_options, batch)
        except ProviderError as exc:
            if exc.failure not in PER_NUMBER_FAILURES:
                return [exc] * len(rows)  # the request as a whole: every row alike
            # About one of the numbers, and Alibaba took none of them: one by one, so the
            # refusal is that row's and the others go.
            return [
                self._answer(partial(self._send_one, sms, template))
                for sms, template in zip(rows, templates, strict=True)
            ]
        now = datetime.now(UTC)
        return [
            SentMessage(
                sid=batch_sid(str(body.biz_id), sms.to),
                to=sms.to,
                body=sms.body,
                delivery=MessageStatus.SENT,
                date_created=now,
            )
            for sms in rows
        ]

    @staticmethod
    def _answer(send: Callable[[], SentMessage]) -> SentMessage | ProviderError:
        try:
            return send()
        except ProviderError as exc:
            return exc

    def place_call(self, call: OutboundCall) -> str:
        """An IvrCall for the monthly report, a lesson's approved file for a lesson
        (infra.providers.aliyun_voice); returns Alibaba's CallId."""
        return self._voice().place_call(call, to_aliyun_number(call.to))

    def upload_voice_file(self, filename: str, content: bytes) -> str:
        """Upload a lesson's audio to Alibaba's voice service; its voiceCode (then in review)."""
        return self._voice().upload_file(filename, content)

    def voice_file_reviews(self, codes: Sequence[str]) -> dict[str, VoiceFileReview]:
        """QueryVoiceFileAuditInfo for these codes, read as reviews."""
        return {s.voice_code: review_of(s) for s in self._voice().audit_states(list(codes))}

    def _voice(self) -> AliyunVoice:
        if self.voice is None:
            raise ProviderError("this Alibaba Cloud provider has no voice client")
        return self.voice

    def list_messages(self, to: str, sent_after: datetime) -> list[SentMessage]:
        """QuerySendDetails for `to`, one Beijing day at a time from `sent_after`, every page."""
        if sent_after.tzinfo is None:
            sent_after = sent_after.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        day = max(sent_after, now - timedelta(days=QUERY_MAX_DAYS - 1)).astimezone(BEIJING).date()
        last = now.astimezone(BEIJING).date()
        floor = sent_after.astimezone(UTC)
        found: list[SentMessage] = []
        while day <= last:
            for detail in self._details(to, day.strftime("%Y%m%d")):
                message = _sent_message(detail, to)
                if message.message_id is None and not message.batch_ids:
                    continue  # not sent by us: every send of ours carries OutId
                if message.date_created is None or message.date_created >= floor:
                    found.append(message)
            day += timedelta(days=1)
        return found

    def _details(self, to: str, send_date: str) -> list[Any]:
        from alibabacloud_dysmsapi20170525 import models as sms_models

        details: list[Any] = []
        for page in range(1, QUERY_MAX_PAGES + 1):
            request = sms_models.QuerySendDetailsRequest(
                phone_number=to_aliyun_number(to),
                send_date=send_date,
                page_size=QUERY_PAGE_SIZE,
                current_page=page,
            )
            body = self._call(self.client.query_send_details_with_options, request)
            dtos = body.sms_send_detail_dtos
            items = list(getattr(dtos, "sms_send_detail_dto", None) or [])
            details.extend(items)
            total = parse_int(body.total_count) or 0
            if not items or len(details) >= total:
                break
        return details

    def recording_url_allowed(self, url: str) -> bool:
        """No recordings come from Alibaba's SMS service."""
        return False

    def fetch_recording(self, url: str) -> RecordingAudio:
        """Refused: Alibaba's SMS service has no recordings to fetch."""
        raise RecordingRefused("recording URL is not the provider's")

    def _call(self, method: Callable[[Any, Any], Any], request: Any) -> Any:
        """Run one SDK call; its body when Code is OK, else a ProviderError with the reading."""
        return call_sdk(
            method, request, self._runtime(), failure_of, "Alibaba Cloud refused the request"
        )


def _batch_requests(
    group: list[tuple[int, OutboundSms, ResolvedTemplate]],
) -> list[list[tuple[int, OutboundSms, ResolvedTemplate]]]:
    """A template's rows cut into requests: up to 100 numbers and an OutId that fits; a
    number's second row waits for a later request."""
    requests: list[list[tuple[int, OutboundSms, ResolvedTemplate]]] = []
    pending = group
    while pending:
        current: list[tuple[int, OutboundSms, ResolvedTemplate]] = []
        numbers: set[str] = set()
        out_id = _OutId()
        later: list[tuple[int, OutboundSms, ResolvedTemplate]] = []
        for entry in pending:
            number = to_aliyun_number(entry[1].to)
            if current and (
                len(current) >= MAX_BATCH_NUMBERS
                or number in numbers
                or out_id.length_with(entry[1].message_id) > MAX_OUT_ID
            ):
                later.append(entry)
                continue
            current.append(entry)
            numbers.add(number)
            out_id.add(entry[1].message_id)
        requests.append(current)
        pending = later
    return requests


class _OutId:
    """The length of batch_out_id over ids added one by one, without writing it out each
    time: rising ids (a notice's, in member order) cost a step each; once an id comes out
    of order, it is written out in full."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.length = len(BATCH_OUT_ID_PREFIX)
        self.run_start: int | None = None  # the first id of the last range (rising ids)
        self.rising = True

    def length_with(self, message_id: int) -> int:
        """The OutId's length were this id added."""
        if not self.ids:
            return self.length + len(str(message_id))
        last = self.ids[-1]
        if not self.rising or message_id <= last:
            return len(batch_out_id([*self.ids, message_id]))
        if message_id == last + 1:  # the last range grows: "a" -> "a-b", or "a-b" -> "a-c"
            if self.run_start == last:
                return self.length + 1 + len(str(message_id))
            return self.length - len(str(last)) + len(str(message_id))
        return self.length + 1 + len(str(message_id))  # a new range: ",c"

    def add(self, message_id: int) -> None:
        """Add the id."""
        self.length = self.length_with(message_id)
        if self.ids and message_id <= self.ids[-1]:
            self.rising = False
        elif not self.ids or message_id != self.ids[-1] + 1:
            self.run_start = message_id
        self.ids.append(message_id)


def _sent_message(detail: Any, to: str) -> SentMessage:
    """One SmsSendDetailDTO as a SentMessage: found by our OutId, since it carries no BizId."""
    status = SEND_STATUSES.get(parse_int(detail.send_status) or 0)
    code = str(detail.err_code) if detail.err_code and detail.err_code != "DELIVERED" else None
    ids = batch_ids(detail.out_id)
    phone = from_aliyun_number(detail.phone_num) if detail.phone_num else to
    if ids:
        return SentMessage(
            sid=batch_lookup_sid(str(detail.out_id), phone),
            to=phone,
            body=str(detail.content or ""),
            delivery=status,
            date_created=beijing_time(detail.send_date),
            error_code=code if status is MessageStatus.UNDELIVERED else None,
            failure=delivery_failure(code) if status is MessageStatus.UNDELIVERED else None,
            batch_ids=ids,
        )
    out_id = parse_int(detail.out_id)
    return SentMessage(
        sid=lookup_sid(out_id if out_id is not None else ""),
        to=from_aliyun_number(detail.phone_num) if detail.phone_num else to,
        body=str(detail.content or ""),
        delivery=status,
        date_created=beijing_time(detail.send_date),
        error_code=code if status is MessageStatus.UNDELIVERED else None,
        failure=delivery_failure(code) if status is MessageStatus.UNDELIVERED else None,
        message_id=out_id,
    )


def sms_report_receipt(item: Mapping[str, Any]) -> Receipt:
    """One SmsReport item as a Receipt: sid the BizId, our row id the OutId (a batch's
    message: sid the BizId and number, no row id, which the batch's OutId does not name).

    A delivered message says `success: true`; a failed one names the carrier's err_code, read
    into a Failure where it says something about the number (else undelivered, no failure).
    """
    success = item.get("success")
    code = None if success is True else (str(item.get("err_code") or "") or None)
    failure = delivery_failure(code)
    if success is True:
        delivery = MessageStatus.DELIVERED
    elif failure is Failure.INVALID_NUMBER:
        delivery = MessageStatus.FAILED
    else:
        delivery = MessageStatus.UNDELIVERED
    to = from_aliyun_number(str(item.get("phone_number") or ""))
    batch = bool(batch_ids(item.get("out_id")))
    return Receipt(
        sid=batch_sid(str(item["biz_id"]), to) if batch else str(item["biz_id"])[:64],
        delivery=delivery,
        to=to,
        message_id=None if batch else parse_int(item.get("out_id")),
        error_code=code[:64] if code else None,
        failure=failure,
    )


def build_aliyun(
    *,
    access_key_id: str,
    access_key_secret: str,
    sign_name: str,
    endpoint: str = DEFAULT_ENDPOINT,
    templates: TemplateBook,
    timeout_ms: int = 10_000,
    voice: AliyunVoice | None = None,
) -> AliyunProvider:
    """The provider: the official client for `endpoint` (`http://host:port` for the sandbox)."""
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_openapi import utils_models as open_api_models

    protocol = "https"
    if endpoint.startswith(("http://", "https://")):
        protocol, _, endpoint = endpoint.partition("://")
    config = open_api_models.Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        endpoint=endpoint.rstrip("/"),
        protocol=protocol,
        read_timeout=timeout_ms,
        connect_timeout=timeout_ms,
    )
    return AliyunProvider(Client(config), templates, sign_name, timeout_ms=timeout_ms, voice=voice)


def is_sandbox(config: Mapping[str, Any]) -> bool:
    """Whether ALIYUN_SMS_ENDPOINT is not one of Alibaba's hosts (the sandbox's copy of its API)."""
    endpoint = str(config["ALIYUN_SMS_ENDPOINT"]).partition("://")[2] or str(
        config["ALIYUN_SMS_ENDPOINT"]
    )
    host = endpoint.split("/")[0].split(":")[0].lower()
    return not (host == "aliyuncs.com" or host.endswith(".aliyuncs.com"))


def from_config(config: Mapping[str, Any], templates: TemplateBook | None = None) -> AliyunProvider:
    """The provider the app's settings describe (PROVIDER=aliyun)."""
    book = templates or book_for(config, sandbox=is_sandbox(config))
    return build_aliyun(
        access_key_id=str(config["ALIYUN_ACCESS_KEY_ID"]),
        access_key_secret=str(config["ALIYUN_ACCESS_KEY_SECRET"]),
        sign_name=str(config["ALIYUN_SMS_SIGN_NAME"]),
        endpoint=str(config["ALIYUN_SMS_ENDPOINT"]),
        templates=book,
        voice=voice_from_config(config),
    )


__all__ = [
    "DELIVERY_FAILURES",
    "FAILURES",
    "AliyunProvider",
    "ResolvedTemplate",
    "TemplateBook",
    "TemplateUnavailable",
    "batch_ids",
    "batch_lookup_sid",
    "batch_out_id",
    "batch_sid",
    "build_aliyun",
    "delivery_failure",
    "failure_of",
    "from_aliyun_number",
    "from_config",
    "lookup_sid",
    "sms_report_receipt",
    "to_aliyun_number",
]
