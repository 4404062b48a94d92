"""Alibaba Cloud SMS (dysmsapi 2017-05-25) as the sandbox speaks it, and its pushes back to us.

The official SDK posts every action to `/` of its endpoint, naming it in the `x-acs-action`
header (the older RPC style names it in an `Action` parameter), with the parameters in the
query string (SendBatchSms puts its JSON lists in a form body). Each request is signed with
ACS3-HMAC-SHA256 over a canonical request (`Authorization: ACS3-HMAC-SHA256
Credential=<AccessKeyId>,SignedHeaders=...,Signature=...`), which is checked here against the
configured AccessKey secret the way Alibaba documents it, not with the SDK's own code.

Answers are Alibaba's: HTTP 200 with `Code` "OK" (or an `isv.`/`isp.` code for a business
refusal), a gateway error (signature, AccessKey, throttling) with its HTTP status. Every
accepted message is stored (template code, sign name, parameters, OutId), and its receipt is
pushed to `state.push_url("aliyun", "sms-report")` as a JSON array in Alibaba's SmsReport
format, in batches, again after 0.2, 0.5 and 1 s (Alibaba: 1, 5 and 10 minutes) until the app
answers exactly `{"code":0,"msg":"接收成功"}`. Fault rules make it refuse (over a cap, template
not approved, unknown number), fail a delivery, push late or push twice.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint, Flask, Request, Response, current_app, g, request

from devtools.sandbox.state import SandboxState, sandbox_state
from devtools.sandbox.store import ALIYUN_TABLES, SandboxStore

log = logging.getLogger(__name__)

PROVIDER = "aliyun"
API_VERSION = "2017-05-25"
ALGORITHM = "ACS3-HMAC-SHA256"
HOST_ID = "dysmsapi.aliyuncs.com"
BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The body Alibaba wants back from a push, exactly; anything else is retried.
ACK = {"code": 0, "msg": "接收成功"}
RETRY_DELAYS = (0.2, 0.5, 1.0)
POST_TIMEOUT = 10.0
# A push carries the receipts that are due within this window, up to BATCH_SIZE of them.
BATCH_WINDOW = 0.2
BATCH_SIZE = 100
MAX_PHONE_NUMBERS = 1000  # SendSms
MAX_BATCH_NUMBERS = 100  # SendBatchSms
MAX_PAGE_SIZE = 50
MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
INTERNATIONAL = re.compile(r"^[1-9]\d{7,14}$")
# The requests' clock may differ from ours by this much (Alibaba: 15 minutes).
MAX_CLOCK_SKEW = timedelta(minutes=15)

# HTTP status and message of the errors the sandbox answers with (Alibaba's wording).
ERRORS: dict[str, tuple[int, str]] = {
    "isv.BUSINESS_LIMIT_CONTROL": (200, "触发号码天级流控Permits:10"),
    "isv.DAY_LIMIT_CONTROL": (200, "触发日发送限额"),
    "isv.TTS_TEMPLATE_ILLEGAL": (200, "TTS模板不合法"),
    "isv.VOICE_FILE_ILLEGAL": (200, "语音文件不合法"),
    "isv.DISPLAY_NUMBER_ILLEGAL": (200, "号显不合法"),
    "isv.SMS_TEMPLATE_ILLEGAL": (200, "该账号下找不到对应模板"),
    "isv.SMS_SIGNATURE_ILLEGAL": (200, "该账号下找不到对应签名"),
    "isv.MOBILE_NUMBER_ILLEGAL": (200, "非法手机号"),
    "isv.MOBILE_COUNT_OVER_LIMIT": (200, "手机号码数量超过限制"),
    "isv.INVALID_JSON_PARAM": (200, "JSON参数不合法，只接受字符串值"),
    "isv.INVALID_PARAMETERS": (200, "参数异常"),
    "isv.OUT_OF_SERVICE": (200, "业务停机"),
    "isp.SYSTEM_ERROR": (200, "系统错误"),
    "isp.RAM_PERMISSION_DENY": (200, "RAM权限不足"),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "SignatureDoesNotMatch": (400, "Specified signature does not match our calculation."),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidAction.NotFound": (404, "Specified api is not found, please check your url."),
    "MissingParameter": (400, "A required parameter is missing."),
}
# Shortcuts for the faults a test asks for most.
FAULT_KINDS: dict[str, str] = {
    "over_cap": "isv.BUSINESS_LIMIT_CONTROL",
    "template_not_approved": "isv.SMS_TEMPLATE_ILLEGAL",
    "tts_not_approved": "isv.TTS_TEMPLATE_ILLEGAL",
    "voice_not_approved": "isv.VOICE_FILE_ILLEGAL",
    "unknown_number": "isv.MOBILE_NUMBER_ILLEGAL",
    "throttled": "Throttling.User",
    "system_error": "isp.SYSTEM_ERROR",
}
# Receipt codes a failed delivery may carry, with Alibaba's text for them.
DELIVERY_ERRORS: dict[str, str] = {
    "MOBILE_NOT_ON_SERVICE": "停机",
    "MOBILE_IN_BLACK": "手机号在黑名单",
    "MOBILE_TERMINAL_ERROR": "手机终端问题",
    "SUBSCRIBER_FAILURE": "用户状态异常",
    "MOBILE_ACCOUNT_ABNORMAL": "用户账户异常",
}
ACTIONS = ("SendSms", "SendBatchSms", "QuerySendDetails")
VOICE_REPORT = "voice-report"  # the feed devtools.sandbox.aliyun_voice pushes calls' records to
_STR_KEYS = ("to", "template", "action", "kind", "code", "message", "err_code")
_INT_KEYS = ("count", "daily_cap", "delay_ms")
_BOOL_KEYS = ("push", "repeat")

bp = Blueprint("sandbox_aliyun", __name__, url_prefix="/_sandbox/aliyun")
EXTENSION_KEY = "sandbox_aliyun_pusher"
_sequence = itertools.count(int(time.time() * 1000))


class ApiError(Exception):
    """A request Alibaba would refuse: its code (the HTTP status and text come from ERRORS)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


# Routing


def handles(req: Request) -> bool:
    """Whether a request to `/` is an Alibaba Cloud API call (by its own headers)."""
    return bool(req.headers.get("x-acs-action") or req.args.get("Action"))


def dispatch() -> Response:
    """Check the signature, then answer the named action as Alibaba would."""
    request_id = g.aliyun_request_id = str(uuid.uuid4()).upper()
    state = sandbox_state()
    body = request.get_data(cache=True)
    try:
        check_signature(
            request.method,
            request.path,
            request.query_string,
            {name.lower(): value for name, value in request.headers.items()},
            body,
            key_id=state.aliyun_access_key_id,
            secret=state.aliyun_access_key_secret,
        )
        action = request.headers.get("x-acs-action") or request.args.get("Action") or ""
        handler = _HANDLERS.get(action)
        if handler is None:
            raise ApiError("InvalidAction.NotFound")
        params = {**dict(parse_qsl(request.query_string.decode())), **_form(body)}
        return _json({**handler(state, params, action), "RequestId": request_id})
    except ApiError as exc:
        return error_response(exc, request_id)


def _form(body: bytes) -> dict[str, str]:
    if request.mimetype != "application/x-www-form-urlencoded" or not body:
        return {}
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json"
    )


def error_response(exc: ApiError, request_id: str) -> Response:
    """Alibaba's error body; a business refusal comes with HTTP 200, a gateway error without."""
    status, text = ERRORS.get(exc.code, (400, "Error"))
    payload = {"RequestId": request_id, "Code": exc.code, "Message": exc.message or text}
    if status != 200:
        payload["HostId"] = HOST_ID
    return _json(payload, status)


# The signature (ACS3-HMAC-SHA256), as Alibaba's "V3 request signature" documents it


def _encode(text: str) -> str:
    """RFC 3986 percent-encoding: letters, digits, `-_.~` stay; a space is %20."""
    return quote(text, safe="-_.~")


def canonical_request(
    method: str,
    path: str,
    query_string: bytes,
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_hash: str,
) -> str:
    """Method, path, sorted encoded query, the signed headers (lowercase, trimmed, sorted),
    their names, and the payload's SHA-256, one a line."""
    pairs = parse_qsl(query_string.decode("utf-8"), keep_blank_values=True)
    query = "&".join(
        f"{_encode(key)}={_encode(value)}" for key, value in sorted(pairs, key=lambda kv: kv[0])
    )
    header_lines = "".join(
        f"{name}:{(headers.get(name) or '').strip()}\n" for name in sorted(signed_headers)
    )
    return "\n".join(
        (method, path or "/", query, header_lines, ";".join(sorted(signed_headers)), payload_hash)
    )


def sign(canonical: str, secret: str) -> str:
    """HMAC-SHA256 of `ACS3-HMAC-SHA256\\n<hex sha256 of the canonical request>`, in hex."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{digest}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def check_signature(
    method: str,
    path: str,
    query_string: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    key_id: str,
    secret: str,
) -> None:
    """ApiError unless the Authorization header signs this request with `secret`.

    `headers` are keyed by lowercase name."""
    authorization = headers.get("authorization") or ""
    algorithm, _, rest = authorization.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    if algorithm != ALGORITHM or not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
        raise ApiError("IncompleteSignature")
    if not secret or not hmac.compare_digest(fields["Credential"], key_id):
        raise ApiError("InvalidAccessKeyId.NotFound")
    payload_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256") != payload_hash:
        raise ApiError("IncompleteSignature", "x-acs-content-sha256 is not the body's hash")
    signed = [name.strip().lower() for name in fields["SignedHeaders"].split(";") if name]
    if not {"host", "x-acs-date", "x-acs-content-sha256", "x-acs-action"} <= set(signed):
        raise ApiError("IncompleteSignature", "required headers are not signed")
    try:
        sent_at = datetime.strptime(headers.get("x-acs-date") or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise ApiError("IncompleteSignature", "x-acs-date is not an ISO 8601 UTC time") from None
    if abs(sent_at.replace(tzinfo=UTC) - datetime.now(UTC)) > MAX_CLOCK_SKEW:
        raise ApiError("InvalidTimeStamp.Expired")
    canonical = canonical_request(method, path, query_string, headers, signed, payload_hash)
    if not hmac.compare_digest(sign(canonical, secret), fields["Signature"]):
        raise ApiError("SignatureDoesNotMatch")


# Fault rules


@dataclass(frozen=True)
class Fault:
    """One rule, matching by number, template and action; `remaining` None: until cleared."""

    id: int
    remaining: int | None
    rule: dict[str, Any]

    def matches(self, action: str, phone: str | None, template: str | None) -> bool:
        """Whether this rule applies to this action for this number and template."""
        rule = self.rule
        if rule.get("action") and rule["action"] != action:
            return False
        if rule.get("template") and rule["template"] != template:
            return False
        return not rule.get("to") or aliyun_number(rule["to"]) == phone


def parse_rule(payload: Any) -> dict[str, Any]:
    """Check a rule posted to /_sandbox/aliyun/faults; ValueError saying what is wrong."""
    if not isinstance(payload, dict) or not payload:
        raise ValueError("a fault is a non-empty JSON object")
    unknown = set(payload) - {*_STR_KEYS, *_INT_KEYS, *_BOOL_KEYS}
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    for key, value in payload.items():
        if key in _INT_KEYS and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValueError(f"{key} must be a non-negative integer")
        if key in _STR_KEYS and (not isinstance(value, str) or not value):
            raise ValueError(f"{key} must be a non-empty string")
        if key in _BOOL_KEYS and not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
    rule = dict(payload)
    if "kind" in rule:
        if rule["kind"] not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        rule.setdefault("code", FAULT_KINDS[rule.pop("kind")])
    if rule.get("action") and rule["action"] not in _HANDLERS:
        raise ValueError(f"action must be one of {', '.join(_HANDLERS)}")
    return rule


class Faults:
    """The rules that apply to one message of one request, each used at most once by it."""

    def __init__(
        self, store: SandboxStore, action: str, phone: str | None, template: str | None
    ) -> None:
        self.store = store
        self.rules = [
            Fault(fault_id, remaining, rule)
            for fault_id, rule, remaining in store.aliyun_faults()
            if Fault(fault_id, remaining, rule).matches(action, phone, template)
        ]
        self._taken: set[int] = set()

    def take(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The first rule `wanted` accepts that still has a count left for us."""
        for fault in self.rules:
            if not wanted(fault.rule):
                continue
            if fault.id in self._taken or self.store.consume_aliyun_fault(
                fault.id, fault.remaining
            ):
                self._taken.add(fault.id)
                return fault.rule
        return None

    def refusal(self, phone: str) -> ApiError | None:
        """An error a rule makes this send answer with (a code, or a daily cap reached)."""
        rule = self.take(lambda rule: "code" in rule)
        if rule is not None:
            return ApiError(rule["code"], rule.get("message"))
        for fault in self.rules:
            cap = fault.rule.get("daily_cap")
            if cap is not None and sent_today(self.store, phone) >= cap:
                return ApiError("isv.BUSINESS_LIMIT_CONTROL", f"触发号码天级流控Permits:{cap}")
        return None


def sent_today(store: SandboxStore, phone: str) -> int:
    """Messages accepted for one number since Beijing midnight (what Alibaba's caps count)."""
    today = datetime.now(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    return store.count_aliyun_sms(phone, today.timestamp(), time.time() + 1)


# Actions


def aliyun_number(number: str) -> str:
    """A number as Alibaba writes it: 11 digits for the mainland (+86 dropped), else digits."""
    digits = number.strip().removeprefix("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def _valid_number(number: str) -> bool:
    return bool(MAINLAND_MOBILE.match(number) or INTERNATIONAL.match(number))


def _template_params(raw: str) -> dict[str, str]:
    """TemplateParam: a JSON object whose values are all strings (Alibaba refuses numbers)."""
    try:
        params = json.loads(raw) if raw else {}
    except ValueError:
        raise ApiError("isv.INVALID_JSON_PARAM") from None
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise ApiError("isv.INVALID_JSON_PARAM")
    return params


def _required(params: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise ApiError("MissingParameter", f"{missing[0]} is mandatory for this action.")


def send_sms(state: SandboxState, params: dict[str, str], action: str) -> dict[str, Any]:
    """SendSms: one template, sign name and parameters to up to 1000 comma-separated numbers."""
    _required(params, "PhoneNumbers", "SignName", "TemplateCode")
    numbers = [n.strip() for n in params["PhoneNumbers"].split(",") if n.strip()]
    if len(numbers) > MAX_PHONE_NUMBERS:
        raise ApiError("isv.MOBILE_COUNT_OVER_LIMIT")
    template_params = _template_params(params.get("TemplateParam", ""))
    messages = [(number, params["SignName"], template_params) for number in numbers]
    return _accept(state, action, params["TemplateCode"], messages, params.get("OutId"))


def send_batch_sms(state: SandboxState, params: dict[str, str], action: str) -> dict[str, Any]:
    """SendBatchSms: up to 100 numbers, each with its own sign name and parameters."""
    _required(params, "PhoneNumberJson", "SignNameJson", "TemplateCode")
    try:
        numbers = json.loads(params["PhoneNumberJson"])
        signs = json.loads(params["SignNameJson"])
        param_list = json.loads(params.get("TemplateParamJson") or "null")
    except ValueError:
        raise ApiError("isv.INVALID_JSON_PARAM") from None
    if not isinstance(numbers, list) or not isinstance(signs, list) or len(signs) != len(numbers):
        raise ApiError("isv.INVALID_PARAMETERS", "PhoneNumberJson and SignNameJson differ")
    if len(numbers) > MAX_BATCH_NUMBERS:
        raise ApiError("isv.MOBILE_COUNT_OVER_LIMIT")
    if param_list is None:
        param_list = [{} for _ in numbers]
    if not isinstance(param_list, list) or len(param_list) != len(numbers):
        raise ApiError("isv.INVALID_JSON_PARAM")
    messages = [
        (str(number), str(sign_name), _template_params(json.dumps(each)))
        for number, sign_name, each in zip(numbers, signs, param_list, strict=True)
    ]
    return _accept(state, action, params["TemplateCode"], messages, params.get("OutId"))


def _accept(
    state: SandboxState,
    action: str,
    template_code: str,
    messages: list[tuple[str, str, dict[str, str]]],
    out_id: str | None,
) -> dict[str, Any]:
    """Refuse the whole request if any message is refused; else store all, queue receipts."""
    plans = []
    for number, sign_name, template_params in messages:
        if not _valid_number(number):
            raise ApiError("isv.MOBILE_NUMBER_ILLEGAL")
        faults = Faults(state.store, action, number, template_code)
        refusal = faults.refusal(number)
        if refusal is not None:
            raise refusal
        failed = faults.take(lambda rule: "err_code" in rule)
        pushing = faults.take(lambda rule: "push" in rule or "repeat" in rule or "delay_ms" in rule)
        plans.append((number, sign_name, template_params, failed, pushing or {}))
    biz_id = f"{secrets.randbelow(10**9):09d}^{secrets.randbelow(10**10):010d}"
    now = time.time()
    rows = [
        {
            "biz_id": biz_id,
            "request_id": g.aliyun_request_id,
            "action": action,
            "access_key_id": state.aliyun_access_key_id,
            "phone_number": number,
            "sign_name": sign_name,
            "template_code": template_code,
            "template_param": json.dumps(template_params, ensure_ascii=False),
            "out_id": out_id,
            "send_status": 1,
            "err_code": None,
            "created_at": now,
        }
        for number, sign_name, template_params, _, _ in plans
    ]
    state.store.insert_aliyun_sms(rows)
    pusher = current_pusher()
    for number, _sign, template_params, failed, pushing in plans:
        err_code = failed["err_code"] if failed else "DELIVERED"
        report = {
            "phone_number": number,
            "send_time": beijing(now),
            "report_time": None,  # filled in when the receipt goes out
            "success": failed is None,
            "err_code": err_code,
            "err_msg": "用户接收成功" if failed is None else DELIVERY_ERRORS.get(err_code, "失败"),
            "sms_size": str(sms_size(template_code, template_params)),
            "biz_id": biz_id,
            "out_id": out_id or "",
        }
        delay = (pushing.get("delay_ms") or 0) / 1000
        push = pushing.get("push", True)
        pusher.report(report, delay=delay, push=push)
        if push and pushing.get("repeat"):
            pusher.report(report, delay=delay + BATCH_WINDOW * 4, push=True, update=False)
    return {"Code": "OK", "Message": "OK", "BizId": biz_id}


def sms_size(template_code: str, params: Mapping[str, str]) -> int:
    """Billed parts, counted the way Alibaba does (70 characters, then 67 a part)."""
    length = len(template_code) + sum(len(value) for value in params.values())
    return 1 if length <= 70 else -(-length // 67)


def query_send_details(state: SandboxState, params: dict[str, str], action: str) -> dict[str, Any]:
    """QuerySendDetails: one number's messages of one Beijing day, a page at a time."""
    _required(params, "PhoneNumber", "SendDate", "PageSize", "CurrentPage")
    try:
        day = datetime.strptime(params["SendDate"], "%Y%m%d").replace(tzinfo=BEIJING)
        page_size, page = int(params["PageSize"]), int(params["CurrentPage"])
    except ValueError:
        raise ApiError("isv.INVALID_PARAMETERS") from None
    if not 1 <= page_size <= MAX_PAGE_SIZE or page < 1:
        raise ApiError("isv.INVALID_PARAMETERS", "PageSize is 1 to 50, CurrentPage from 1")
    faults = Faults(state.store, action, params["PhoneNumber"], None)
    refusal = faults.refusal(params["PhoneNumber"])
    if refusal is not None:
        raise refusal
    start, end = day.timestamp(), (day + timedelta(days=1)).timestamp()
    phone = params["PhoneNumber"]
    biz_id = params.get("BizId") or None
    total = len(state.store.aliyun_sms(phone, created_from=start, created_until=end, biz_id=biz_id))
    rows = state.store.aliyun_sms(
        phone,
        created_from=start,
        created_until=end,
        biz_id=biz_id,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    return {
        "Code": "OK",
        "Message": "OK",
        "TotalCount": total,
        "SmsSendDetailDTOs": {"SmsSendDetailDTO": [send_detail(row) for row in rows]},
    }


def send_detail(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as a SmsSendDetailDTO (which names no BizId)."""
    params = json.loads(row["template_param"])
    return {
        "PhoneNum": row["phone_number"],
        "SendStatus": row["send_status"],
        "ErrCode": row["err_code"] or ("DELIVERED" if row["send_status"] == 3 else ""),
        "TemplateCode": row["template_code"],
        "Content": f"【{row['sign_name']}】{row['template_code']} "
        + json.dumps(params, ensure_ascii=False),
        "SendDate": beijing(row["created_at"]),
        "ReceiveDate": beijing(row["reported_at"]) if row["reported_at"] else "",
        "OutId": row["out_id"] or "",
    }


_HANDLERS: dict[str, Callable[[SandboxState, dict[str, str], str], dict[str, Any]]] = {
    "SendSms": send_sms,
    "SendBatchSms": send_batch_sms,
    "QuerySendDetails": query_send_details,
}


def register_actions(
    handlers: Mapping[str, Callable[[SandboxState, dict[str, str], str], dict[str, Any]]],
) -> None:
    """Answer more of Alibaba's actions at `/` (the voice API's, from its own module)."""
    _HANDLERS.update(handlers)


def beijing(epoch: float) -> str:
    """Alibaba's time format: Beijing time, no offset."""
    return datetime.fromtimestamp(epoch, BEIJING).strftime(TIME_FORMAT)


# Pushes to the app


@dataclass(order=True)
class _Due:
    due: float
    seq: int
    feed: str = field(compare=False)
    item: dict[str, Any] = field(compare=False)
    push: bool = field(compare=False, default=True)
    update: bool = field(compare=False, default=True)


class Pusher:
    """Receipts and replies pushed to the app in batches, from a thread of each process."""

    def __init__(self, state: SandboxState, retry_delays: tuple[float, ...] = RETRY_DELAYS):
        self.state = state
        self.retry_delays = retry_delays
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[_Due] = queue.Queue()
        self._seq = itertools.count()

    def report(
        self, item: dict[str, Any], *, delay: float, push: bool, update: bool = True
    ) -> None:
        """Queue one SmsReport item, due after `delay` seconds."""
        self._put(_Due(time.time() + delay, next(self._seq), "sms-report", item, push, update))

    def reply(self, item: dict[str, Any]) -> None:
        """Queue one SmsUp item (a member's text), due now."""
        self._put(_Due(time.time(), next(self._seq), "sms-up", item))

    def voice_report(self, item: dict[str, Any], *, delay: float, push: bool = True) -> None:
        """Queue one VoiceReport item (a call's record), due after `delay` seconds."""
        self._put(_Due(time.time() + delay, next(self._seq), VOICE_REPORT, item, push))

    def _put(self, due: _Due) -> None:
        self._ensure_started()
        self._queue.put(due)

    def _ensure_started(self) -> None:
        # gunicorn forks after the app exists: each worker starts its own thread when needed.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.Queue()
            threading.Thread(target=self._work, name="sandbox-aliyun-push", daemon=True).start()
            self._pid = os.getpid()

    def _work(self) -> None:
        waiting: list[_Due] = []
        while True:
            timeout = None if not waiting else max(0.0, min(waiting).due - time.time())
            try:
                waiting.append(self._queue.get(timeout=timeout))
                # Let the rest of a burst arrive, so it goes out as one batch.
                deadline = time.time() + BATCH_WINDOW
                while len(waiting) < BATCH_SIZE * 4 and time.time() < deadline:
                    try:
                        waiting.append(self._queue.get(timeout=max(0.0, deadline - time.time())))
                    except queue.Empty:
                        break
            except queue.Empty:
                pass
            # What falls due within the window goes out with what is due now, as one batch.
            horizon = time.time() + BATCH_WINDOW
            ready = sorted(entry for entry in waiting if entry.due <= horizon)
            waiting = [entry for entry in waiting if entry.due > horizon]
            try:
                self._send(ready)
            except Exception:
                # One broken batch must not stop every later push.
                log.exception("sandbox aliyun push failed")

    def _send(self, ready: list[_Due]) -> None:
        store = self.state.store
        for feed in ("sms-report", "sms-up", VOICE_REPORT):
            items = []
            for entry in (entry for entry in ready if entry.feed == feed):
                item = dict(entry.item)
                if feed == "sms-report":
                    item["report_time"] = beijing(time.time())
                    if entry.update:
                        store.report_aliyun_sms(
                            item["biz_id"],
                            item["phone_number"],
                            3 if item["success"] else 2,
                            item["err_code"],
                            time.time(),
                        )
                if entry.push:
                    items.append(item)
            url = self.state.push_url(PROVIDER, feed)
            for start in range(0, len(items), BATCH_SIZE):
                if url is not None:
                    self.post(feed, url, items[start : start + BATCH_SIZE])

    def post(self, feed: str, url: str, body: Any) -> dict[str, Any]:
        """POST one JSON body, again after each retry delay until the app answers exactly
        Alibaba's acknowledgement; record and return how it ended."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json;charset=utf-8", "User-Agent": "AliyunPush"}
        http_status: int | None = None
        answer: str | None = None
        attempts = 0
        delivered = False
        for delay in (0.0, *self.retry_delays):
            if delay:
                time.sleep(delay)
            attempts += 1
            try:
                response = requests.post(url, data=payload, headers=headers, timeout=POST_TIMEOUT)
            except requests.RequestException as exc:
                http_status, answer = None, str(exc)
                continue
            http_status, answer = response.status_code, response.text
            if response.status_code == 200 and _acknowledged(response):
                delivered = True
                break
        else:
            log.warning("dropped aliyun %s push to %s: HTTP %s %s", feed, url, http_status, answer)
        outcome = {
            "feed": feed,
            "url": url,
            "body": json.dumps(body, ensure_ascii=False),
            "outcome": "delivered" if delivered else "dropped",
            "http_status": http_status,
            "answer": answer,
            "attempts": attempts,
            "created_at": time.time(),
        }
        self.state.store.record_aliyun_push(outcome)
        return {**outcome, "body": body}


def _acknowledged(response: requests.Response) -> bool:
    try:
        return bool(response.json() == ACK)
    except ValueError:
        return False


def current_pusher() -> Pusher:
    """The pusher of the sandbox app handling this request."""
    pusher: Pusher = current_app.extensions[EXTENSION_KEY]
    return pusher


def init_app(app: Flask, state: SandboxState) -> None:
    """Give the sandbox app its Alibaba pusher and control endpoints."""
    app.extensions[EXTENSION_KEY] = Pusher(state)
    app.register_blueprint(bp)


# Control endpoints under /_sandbox/aliyun/


@bp.get("/messages")
def list_messages() -> Response:
    """Messages sent through the Alibaba API (optionally ?to=), oldest first."""
    to = request.args.get("to")
    rows = sandbox_state().store.aliyun_sms(aliyun_number(to) if to else None)
    return _json([outbox_row(row) for row in rows])


def outbox_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored Alibaba message as the outbox lists it."""
    return {
        "biz_id": row["biz_id"],
        "action": row["action"],
        "to": row["phone_number"],
        "sign_name": row["sign_name"],
        "template_code": row["template_code"],
        "params": json.loads(row["template_param"]),
        "out_id": row["out_id"],
        "send_status": row["send_status"],
        "err_code": row["err_code"],
        "created_at": datetime.fromtimestamp(row["created_at"], UTC).isoformat(),
    }


@bp.post("/faults")
def add_fault() -> tuple[Response, int]:
    """Add a fault rule (see `parse_rule`); 400 says what is wrong with it."""
    try:
        rule = parse_rule(request.get_json(silent=True))
    except ValueError as exc:
        return _json({"error": str(exc)}), 400
    return _json({"id": sandbox_state().store.add_aliyun_fault(rule), "rule": rule}), 201


@bp.get("/faults")
def list_faults() -> Response:
    """Every rule that still applies."""
    faults = sandbox_state().store.aliyun_faults()
    return _json([{"id": i, "rule": rule, "remaining": left} for i, rule, left in faults])


@bp.get("/pushes")
def list_pushes() -> Response:
    """How each push ended (delivered or dropped), optionally of one ?feed=."""
    return _json(sandbox_state().store.aliyun_pushes(request.args.get("feed")))


@bp.delete("/<any(messages, faults, pushes):kind>")
def clear(kind: str) -> Response:
    """Forget every message, fault rule or push record of the Alibaba side."""
    table = {"messages": "aliyun_sms", "faults": "aliyun_faults", "pushes": "aliyun_pushes"}[kind]
    assert table in ALIYUN_TABLES
    return _json({"cleared": sandbox_state().store.clear_aliyun(table)})


@bp.post("/sms-up")
def sms_up() -> tuple[Response, int]:
    """A member texts the service: `{"from": "+8613...", "text": "HB 1"}` pushed as SmsUp."""
    payload = request.get_json(silent=True) or {}
    sender, text = payload.get("from"), payload.get("text")
    if not isinstance(sender, str) or not sender or not isinstance(text, str) or not text:
        return _json({"error": "from and text are required"}), 400
    item = {
        "phone_number": aliyun_number(sender),
        "send_time": beijing(time.time()),
        "content": text,
        "sign_name": str(payload.get("sign_name") or ""),
        "dest_code": str(payload.get("dest_code") or "1234"),
        "sequence_id": next(_sequence),
    }
    current_pusher().reply(item)
    return _json(item), 202


@bp.post("/push")
def raw_push() -> Response | tuple[Response, int]:
    """Push any body to a feed now and wait for the end: `{"feed": ..., "body": ...}`, with
    an optional `secret` in place of the configured one (a wrong secret, say)."""
    payload = request.get_json(silent=True) or {}
    feed = payload.get("feed")
    state = sandbox_state()
    if feed not in ("sms-report", "sms-up", VOICE_REPORT) or "body" not in payload:
        return _json(
            {"error": "feed (sms-report, sms-up or voice-report) and body are required"}
        ), 400
    url = state.push_url(PROVIDER, feed)
    if url is None:
        return _json({"error": "no push address configured"}), 409
    if payload.get("secret"):
        url = url.rsplit("/", 1)[0] + "/" + str(payload["secret"])
    return _json(current_pusher().post(feed, url, payload["body"]))


__all__ = [
    "ACK",
    "Pusher",
    "bp",
    "canonical_request",
    "check_signature",
    "dispatch",
    "handles",
    "init_app",
    "parse_rule",
    "sign",
]
