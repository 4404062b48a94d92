"""Alibaba Cloud voice (阿里云语音服务, dyvmsapi 2017-05-25) through its official SDK.

Alibaba calls out and plays only what it approved: text-to-speech templates (TTS_...) and
audio files (a voiceCode). There is no live IVR: a call plays one prompt, takes one key, and
the key and the seconds on the line come back afterwards in the call's record (VoiceReport),
pushed to `/cn/aliyun/voice-report/<secret>` (gateway.cn_aliyun). So:

- the monthly report (a reminder or a callback with the menu) is an `IvrCall`: the start
  prompt is the approved question, and MenuKeyMap answers keys 1 and 2 with approved prompts
  (ivr_flows.keyed: 1 studied this month, 2 did not);
- a lesson call is `SingleCallByVoice` with the lesson's approved voiceCode (uploaded from
  the lesson page: GetToken, then the file POSTed to /dyvms/upload; QueryVoiceFileAuditInfo
  says when it was approved).

Our Call row's id goes out as OutId and comes back in the report. Alibaba's refusals are read
into models.delivery.Failure: over the per-number limit (1 a minute, 5 an hour, 20 a day) is
"slow down" and the call is tried again later; a number that is not a mainland mobile is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from infra.providers.aliyun_sdk import OK, call_sdk
from infra.providers.base import (
    CallReceipt,
    OutboundCall,
    ProviderError,
    VoiceFileReview,
    failure_of_status,
)
from infra.providers.templates import TemplateUnavailable, spoken_template
from models.call import CallPurpose, CallStatus
from models.delivery import Failure
from models.numbers import parse_int
from models.sms_templates import ALIYUN, VOICE_ANSWERS, VOICE_REPORT_QUESTION

DEFAULT_VOICE_ENDPOINT = "dyvmsapi.aliyuncs.com"
# Where Alibaba takes an uploaded audio file (help.aliyun.com/zh/vms/user-guide/
# through-the-api-or-sdk-upload-audio-files); the sandbox serves the same path.
DEFAULT_UPLOAD_URL = "http://dysmsapi-custom.cn-shanghai.aliyuncs.com/dyvms/upload"
# What Call.error_code keeps when a call could not be made from approved prompts or files.
LESSON_NOT_APPROVED = "voice:lesson_not_approved"
NO_SHOW_NUMBER = "voice:no_show_number"
# How often the question is played when no key comes (IvrCall's PlayTimes, 1 to 3).
PLAY_TIMES = 2
# Seconds the member has to press a key after the question (IvrCall's Timeout, ms).
KEY_TIMEOUT_MS = 10_000

# Alibaba's voice API error codes (语音服务 API错误码, help.aliyun.com/document_detail/178344.html)
# read into the domain's Failure. Anything not listed is REFUSED (account, template, file).
VOICE_FAILURES: dict[str, Failure] = {
    # 触发业务流控: per called number 1 a minute, 5 an hour, 20 in 24 hours. Slow down for
    # this number and try again later; the calls job waits and places it again.
    "isv.BUSINESS_LIMIT_CONTROL": Failure.RATE_LIMITED,
    "Throttling.User": Failure.RATE_LIMITED,
    "Throttling": Failure.RATE_LIMITED,
    "isv.MOBILE_NUMBER_ILLEGAL": Failure.INVALID_NUMBER,  # 号码格式非法
    "isv.CALLED_NUMBER_ILLEGAL": Failure.INVALID_NUMBER,
    "isp.SYSTEM_ERROR": Failure.RETRY_LATER,
    "isv.VOICE_CALL_FAIL": Failure.RETRY_LATER,  # 呼叫发起失败
    "ServiceUnavailable": Failure.RETRY_LATER,
    "InternalError": Failure.RETRY_LATER,
    "isv.TTS_TEMPLATE_ILLEGAL": Failure.REFUSED,  # not found or not approved
    "isv.TEMPLATE_ILLEGAL": Failure.REFUSED,
    "isv.VOICE_FILE_ILLEGAL": Failure.REFUSED,
    "isv.DISPLAY_NUMBER_ILLEGAL": Failure.REFUSED,  # our CalledShowNumber
    "isv.COMPLAINT_REJECT": Failure.REFUSED,
    "isv.OUT_OF_SERVICE": Failure.REFUSED,
    "isv.AMOUNT_NOT_ENOUGH": Failure.REFUSED,
}

# Call result codes (呼叫结果状态码, help.aliyun.com/document_detail/55085.html) as our statuses.
# 200000 the member heard the prompt to the end, 200001 hung up before its end: both answered.
ANSWERED_CODES = frozenset({"200000", "200001", "200008", "200100"})
BUSY_CODES = frozenset({"200002", "200112"})
NO_ANSWER_CODES = frozenset({"200003", "200005", "200007", "200010", "200113", "200111", "200120"})
# Codes of the intermediate messages (VoiceCallReport: calling, ringing, answered, a DTMF key):
# a call's progress, not its end. Pushed to this address by mistake, they are kept, not acted on.
DTMF_CODE = "300000"  # the key pressed, in its own message
INTERMEDIATE_CODES = frozenset({"200101", "200201", "200102", DTMF_CODE})


def voice_failure_of(code: str | None, status: int | None = None) -> Failure:
    """The domain's reading of a voice API refusal: by Alibaba's code, then the HTTP status."""
    return VOICE_FAILURES.get(code or "") or failure_of_status(status)


def is_final(item: Mapping[str, Any]) -> bool:
    """Whether a pushed item is a call's record (VoiceReport), not an intermediate status."""
    return str(item.get("status_code") or "").strip() not in INTERMEDIATE_CODES


def call_status_of(code: str | None) -> CallStatus:
    """A call result code as our final call status (anything unknown: failed)."""
    code = str(code or "").strip()
    if code in ANSWERED_CODES:
        return CallStatus.COMPLETED
    if code in BUSY_CODES:
        return CallStatus.BUSY
    if code in NO_ANSWER_CODES:
        return CallStatus.NO_ANSWER
    return CallStatus.FAILED


def voice_report_receipt(item: Mapping[str, Any]) -> CallReceipt:
    """One VoiceReport item (a call's record once it ended) as a CallReceipt: our Call id
    from out_id, Alibaba's call_id, the status its code says, the seconds and the keys."""
    code = str(item.get("status_code") or "").strip()
    status = call_status_of(code)
    return CallReceipt(
        call_id=parse_int(item.get("out_id")),
        call_sid=str(item.get("call_id") or "")[:64] or None,
        status=status,
        duration=parse_int(item.get("duration")),
        keys="".join(ch for ch in str(item.get("dtmf") or "") if ch.isdigit() or ch in "*#"),
        error_code=None if status is CallStatus.COMPLETED else (code[:64] or None),
    )


@dataclass(frozen=True)
class Prompts:
    """The approved codes one report call plays: the question and the answer to each key."""

    question: str
    answers: Mapping[str, str]


def report_prompts(*, sandbox: bool) -> Prompts:
    """The registry's approved TTS codes for the report call; ProviderError naming the first
    prompt not approved (the sandbox takes any prompt under its own name)."""

    def code(key: str) -> str:
        try:
            return spoken_template(ALIYUN, key, sandbox=sandbox).code
        except TemplateUnavailable as exc:
            raise ProviderError(str(exc), code=exc.code) from exc

    return Prompts(
        question=code(VOICE_REPORT_QUESTION),
        answers={digit: code(key) for digit, key in VOICE_ANSWERS.items()},
    )


# QueryVoiceFileAuditInfo's AuditState: passed, refused; anything else is still in review.
AUDIT_PASSED = "AUDIT_STATE_PASS"
AUDIT_REFUSED = frozenset({"AUDIT_STATE_NOT_PASS", "AUDIT_SATE_CANCEL"})


def review_of(state: AuditState) -> VoiceFileReview:
    """An AuditState as the domain's review: approved, refused (with Alibaba's reason), or
    still in review."""
    if state.state == AUDIT_PASSED:
        return VoiceFileReview(True)
    if state.state in AUDIT_REFUSED:
        return VoiceFileReview(False, state.reject_info or state.state)
    return VoiceFileReview(None)


@dataclass(frozen=True)
class AuditState:
    """QueryVoiceFileAuditInfo's answer for one file."""

    voice_code: str
    state: str  # AUDIT_STATE_INIT, AUDIT_STATE_PASS, AUDIT_STATE_NOT_PASS, ...
    reject_info: str | None


class AliyunVoice:
    """The voice half of the Alibaba provider, over a dyvmsapi `Client`."""

    def __init__(
        self,
        client: Any,  # alibabacloud_dyvmsapi20170525.client.Client
        show_number: str,
        *,
        sandbox: bool = False,
        upload_url: str = DEFAULT_UPLOAD_URL,
        timeout_ms: int = 10_000,
    ) -> None:
        self.client = client
        self.show_number = show_number
        self.sandbox = sandbox
        self.upload_url = upload_url
        self.timeout_ms = timeout_ms

    def place_call(self, call: OutboundCall, to_number: str) -> str:
        """A report or menu call is an IvrCall; a lesson call plays the lesson's approved
        file. Returns Alibaba's CallId."""
        if not self.show_number:
            raise ProviderError(
                "ALIYUN_VOICE_SHOW_NUMBER is not set: Alibaba calls from a number you bought",
                code=NO_SHOW_NUMBER,
            )
        from alibabacloud_dyvmsapi20170525 import models as vms

        if call.purpose is CallPurpose.LESSON:
            if not call.voice_code:
                raise ProviderError(
                    f"lesson {call.lesson_id} has no audio file approved by Alibaba Cloud: "
                    "upload it from the lesson page and wait for the review",
                    code=LESSON_NOT_APPROVED,
                )
            request: Any = vms.SingleCallByVoiceRequest(
                called_number=to_number,
                called_show_number=self.show_number,
                voice_code=call.voice_code,
                play_times=1,
                out_id=str(call.call_id),
            )
            body = self._call(self.client.single_call_by_voice_with_options, request)
            return str(body.call_id)
        prompts = report_prompts(sandbox=self.sandbox)
        request = vms.IvrCallRequest(
            called_number=to_number,
            called_show_number=self.show_number,
            start_code=prompts.question,
            menu_key_map=[
                vms.IvrCallRequestMenuKeyMap(key=digit, code=code)
                for digit, code in prompts.answers.items()
            ],
            play_times=PLAY_TIMES,
            timeout=KEY_TIMEOUT_MS,
            out_id=str(call.call_id),
        )
        body = self._call(self.client.ivr_call_with_options, request)
        return str(body.call_id)

    def upload_file(self, filename: str, content: bytes) -> str:
        """GetToken, then the file POSTed to the upload address; returns its voiceCode."""
        from alibabacloud_dyvmsapi20170525 import models as vms

        token = self._call(self.client.get_token_with_options, vms.GetTokenRequest()).token
        try:
            response = requests.post(
                self.upload_url,
                params={"filename": filename},
                data=content,
                headers={
                    "authorization": str(token),
                    "Content-Type": "application/octet-stream;charset=utf-8",
                    "Accept": "application/json",
                },
                timeout=self.timeout_ms / 1000,
            )
        except requests.RequestException as exc:
            raise ProviderError(
                f"upload unreachable: {exc}", failure=Failure.RETRY_LATER, connection_error=True
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        data = answer.get("data") if isinstance(answer, dict) else None
        code = str(answer.get("code") or "") if isinstance(answer, dict) else ""
        if response.status_code != 200 or code != OK or not isinstance(data, dict):
            raise ProviderError(
                f"upload refused: {answer.get('msg') if isinstance(answer, dict) else ''!s}",
                status=response.status_code,
                code=code or None,
                failure=voice_failure_of(code, response.status_code),
            )
        return str(data["voiceCode"])

    def audit_states(self, voice_codes: list[str]) -> list[AuditState]:
        """QueryVoiceFileAuditInfo for up to 10 files at a time."""
        from alibabacloud_dyvmsapi20170525 import models as vms

        found: list[AuditState] = []
        for start in range(0, len(voice_codes), 10):
            request = vms.QueryVoiceFileAuditInfoRequest(
                voice_codes=",".join(voice_codes[start : start + 10]), business_type=0
            )
            body = self._call(self.client.query_voice_file_audit_info_with_options, request)
            for item in body.data or []:
                found.append(
                    AuditState(
                        voice_code=str(item.voice_code),
                        state=str(item.audit_state or ""),
                        reject_info=str(item.reject_info) if item.reject_info else None,
                    )
                )
        return found

    def _call(self, method: Callable[[Any, Any], Any], request: Any) -> Any:
        """Run one SDK call; its body when Code is OK, else a ProviderError with the reading."""
        from darabonba.runtime import RuntimeOptions

        runtime = RuntimeOptions(
            read_timeout=self.timeout_ms, connect_timeout=self.timeout_ms, autoretry=False
        )
        return call_sdk(
            method, request, runtime, voice_failure_of, "Alibaba Cloud refused the call"
        )


def build_voice(
    *,
    access_key_id: str,
    access_key_secret: str,
    show_number: str,
    endpoint: str = DEFAULT_VOICE_ENDPOINT,
    sandbox: bool = False,
    upload_url: str | None = None,
    timeout_ms: int = 10_000,
) -> AliyunVoice:
    """The voice client for `endpoint` (`http://host:port` for the sandbox, whose upload
    address is on the same host)."""
    from alibabacloud_dyvmsapi20170525.client import Client
    from alibabacloud_tea_openapi import utils_models as open_api_models

    base = endpoint.rstrip("/")
    protocol = "https"
    if base.startswith(("http://", "https://")):
        protocol, _, base = base.partition("://")
    config = open_api_models.Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        endpoint=base,
        protocol=protocol,
        read_timeout=timeout_ms,
        connect_timeout=timeout_ms,
    )
    if upload_url is None:
        upload_url = f"{protocol}://{base}/dyvms/upload" if sandbox else DEFAULT_UPLOAD_URL
    return AliyunVoice(
        Client(config), show_number, sandbox=sandbox, upload_url=upload_url, timeout_ms=timeout_ms
    )


def voice_sandbox(config: Mapping[str, Any]) -> bool:
    """Whether ALIYUN_VOICE_ENDPOINT is not one of Alibaba's hosts (the sandbox's copy)."""
    endpoint = str(config["ALIYUN_VOICE_ENDPOINT"])
    host = (endpoint.partition("://")[2] or endpoint).split("/")[0].split(":")[0].lower()
    return not (host == "aliyuncs.com" or host.endswith(".aliyuncs.com"))


def voice_from_config(config: Mapping[str, Any]) -> AliyunVoice:
    """The voice client the app's settings describe (PROVIDER=aliyun)."""
    return build_voice(
        access_key_id=str(config["ALIYUN_ACCESS_KEY_ID"]),
        access_key_secret=str(config["ALIYUN_ACCESS_KEY_SECRET"]),
        show_number=str(config.get("ALIYUN_VOICE_SHOW_NUMBER") or ""),
        endpoint=str(config["ALIYUN_VOICE_ENDPOINT"]),
        sandbox=voice_sandbox(config),
    )


__all__ = [
    "DTMF_CODE",
    "INTERMEDIATE_CODES",
    "VOICE_FAILURES",
    "AliyunVoice",
    "AuditState",
    "build_voice",
    "call_status_of",
    "is_final",
    "voice_failure_of",
    "voice_from_config",
    "voice_report_receipt",
]
