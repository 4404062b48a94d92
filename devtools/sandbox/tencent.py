"""Tencent Cloud SMS (API 2021-01-11) as the sandbox speaks it, and the pushes it makes.

The SDK posts JSON to `/` with the action in `X-TC-Action` and a TC3-HMAC-SHA256
`Authorization` header; `api()` (reached through devtools.sandbox.root) checks that signature
against the configured secret key on its own (not with the SDK's code), then answers
`SendSms` and `PullSmsReplyStatus` in Tencent's shape: `{"Response": {..., "RequestId"}}`, and
errors as `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}` with HTTP 200.

What was sent is kept in the store's `tencent_*` tables and listed under /_sandbox/tencent/.
Status reports are pushed to `push_url("tencent", "sms-status")` as JSON arrays in Tencent's
format, collected into batches, optionally late and twice, and posted again until the answer
is exactly `{"result":0,"errmsg":"OK"}`; a member's reply is pushed, one object, to
`push_url("tencent", "sms-reply")` from POST /_sandbox/tencent/replies; POST
/_sandbox/tencent/push sends any body (a malformed one, say) to either address.

Switches (PUT /_sandbox/tencent/settings): `daily_cap` (Tencent's default is 2 a day per
number; off unless set), `same_content_s` (no identical content to one number within so many
seconds; Tencent's default 30), `unapproved_templates`, `push_delay_ms`, `push_twice`.
Rules (POST /_sandbox/tencent/rules): `{"to", "code", "message", "count"}` refuses with a
Tencent code; `{"to", "report": "FAIL", "errmsg", "count"}` makes the status report a failure.

Voice messages (VMS, `SendTtsVoice`, version 2020-09-02, signatures scoped to `vms`) are
answered by devtools/sandbox/tencent_voice.py, which registers itself in SERVICES.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from devtools.sandbox.callbacks import CallbackDispatcher
from devtools.sandbox.state import sandbox_state
from devtools.sandbox.store import SandboxStore

EXTENSION_KEY = "sandbox_tencent"
API_VERSION = "2021-01-11"
SERVICE = "sms"
ALGORITHM = "TC3-HMAC-SHA256"
SIGNATURE_MAX_AGE_S = 300  # "Timestamp 和服务器时间相差不得超过五分钟"
MAX_NUMBERS = 200
MAX_BATCH = 100  # status reports in one push
ACK = {"result": 0, "errmsg": "OK"}
RETRY_DELAYS = (0.2, 0.5)  # after the first push attempt; then the batch is recorded dropped
POST_TIMEOUT = 15.0
BEIJING = ZoneInfo("Asia/Shanghai")
CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
DEFAULT_SETTINGS: dict[str, Any] = {
    "daily_cap": None,
    "same_content_s": None,
    "unapproved_templates": [],
    "push_delay_ms": 100,
    "push_twice": False,
}
# Per-number refusals come in the SendStatus of that number; anything else refuses the request.
PER_NUMBER_CODES = (
    "LimitExceeded.PhoneNumber",
    "InvalidParameterValue.IncorrectPhoneNumber",
    "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.PhoneNumberParseFail",
)
MESSAGES = {
    "LimitExceeded.PhoneNumberDailyLimit": "the number has had its daily quota of messages",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "the same content was sent to this number "
    "moments ago",
    "FailedOperation.TemplateIncorrectOrUnapproved": "template is not approved or does not match",
    "InvalidParameterValue.IncorrectPhoneNumber": "incorrect phone number",
    "FailedOperation.PhoneNumberParseFail": "the number cannot be parsed",
    "FailedOperation.PhoneNumberInBlacklist": "the number is on the do-not-disturb list",
    "RequestLimitExceeded": "request rate limit exceeded",
    "InternalError.OtherError": "internal error",
}

_TABLES = ["tencent_sms", "tencent_replies", "tencent_settings", "tencent_rules", "tencent_pushes"]

bp = Blueprint("sandbox_tencent", __name__, url_prefix="/_sandbox/tencent")


@dataclass
class TencentSandbox:
    """The key the sandbox checks signatures with, and this process's unpushed reports."""

    secret_id: str | None
    secret_key: str
    pending: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    flush_queued: bool = False  # one flush waits at a time: what comes meanwhile joins it


def init_app(app: Flask, secret_id: str | None, secret_key: str) -> None:
    """Answer Tencent's API with this key pair and serve /_sandbox/tencent/."""
    app.extensions[EXTENSION_KEY] = TencentSandbox(secret_id or None, secret_key)
    app.register_blueprint(bp)


def _tencent() -> TencentSandbox:
    state: TencentSandbox = current_app.extensions[EXTENSION_KEY]
    return state


# The API


class ApiError(Exception):
    """A refusal of the whole request, answered as Response.Error."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, code)


def api() -> Response:
    """One request of Tencent's SDK: check its signature, run its action, answer as Tencent."""
    request_id = str(uuid.uuid4())
    body = request.get_data(cache=True)
    try:
        # The service (sms, vms) whose scope the signature must name goes by the API version.
        service = SERVICES.get(request.headers.get("X-TC-Version", ""), (SERVICE, {}))
        check_signature(
            request.method,
            request.path,
            request.query_string.decode("latin-1"),
            {name.lower(): value for name, value in request.headers.items()},
            body,
            _tencent(),
            time.time(),
            service=service[0],
        )
        if request.headers.get("X-TC-Version", "") not in SERVICES:
            raise ApiError("NoSuchVersion", "the API version does not exist")
        action = service[1].get(request.headers.get("X-TC-Action", ""))
        if action is None:
            raise ApiError("InvalidAction", "the action does not exist")
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("FailedOperation.JsonParseFail", "the body is not JSON") from None
        if not isinstance(params, dict):
            raise ApiError("FailedOperation.JsonParseFail", "the body is not a JSON object")
        result = action(params)
    except ApiError as exc:
        result = {"Error": {"Code": exc.code, "Message": exc.message}}
    return _answer({**result, "RequestId": request_id})


def _answer(response: dict[str, Any]) -> Response:
    # Exactly application/json: the SDK reads an Error only under that Content-Type.
    payload = json.dumps({"Response": response}, ensure_ascii=False)
    return Response(payload, status=200, content_type="application/json")


_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z0-9]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def check_signature(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: TencentSandbox,
    now: float,
    service: str = SERVICE,
) -> None:
    """TC3-HMAC-SHA256 as Tencent's "签名方法 v3" describes it; ApiError (AuthFailure.*) if wrong.

    `headers` by lower-case name; the signed ones enter lower-cased and trimmed, as Tencent
    Cloud API 3.0's "Signature v3" documentation says.
    """
    match = _AUTHORIZATION.fullmatch(headers.get("authorization", "").strip())
    if match is None:
        raise ApiError("AuthFailure.InvalidAuthorization", "Authorization is not TC3-HMAC-SHA256")
    if keys.secret_id is not None and match["id"] != keys.secret_id:
        raise ApiError("AuthFailure.SecretIdNotFound", "the SecretId does not exist")
    try:
        timestamp = int(headers.get("x-tc-timestamp", ""))
    except ValueError:
        raise ApiError("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing") from None
    if abs(now - timestamp) > SIGNATURE_MAX_AGE_S:
        raise ApiError("AuthFailure.SignatureExpire", "the signature expired")
    signed = match["signed"].split(";")
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    if (
        match["date"] != date
        or match["service"] != service
        or "host" not in signed
        or "content-type" not in signed
    ):
        raise ApiError("AuthFailure.SignatureFailure", "the credential scope does not match")
    canonical_headers = "".join(
        f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed
    )
    canonical_request = "\n".join(
        (
            method.upper(),
            path,
            query,
            canonical_headers,
            match["signed"],
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = _hmac(("TC3" + keys.secret_key).encode(), date)
    key = _hmac(key, service)
    key = _hmac(key, "tc3_request")
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        raise ApiError(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is "
            "correct.",
        )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def send_sms(params: dict[str, Any]) -> dict[str, Any]:
    """SendSms: one SendStatus per number; accepted ones are stored and their reports pushed."""
    state = sandbox_state()
    store = state.store
    numbers = params.get("PhoneNumberSet")
    app_id = str(params.get("SmsSdkAppId") or "")
    template_id = str(params.get("TemplateId") or "")
    if not isinstance(numbers, list) or not numbers:
        raise ApiError("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty")
    if len(numbers) > MAX_NUMBERS:
        raise ApiError("LimitExceeded.PhoneNumberCountLimit", "more than 200 numbers")
    if not app_id or not template_id:
        raise ApiError("MissingParameter", "SmsSdkAppId and TemplateId are required")
    template_params = [str(value) for value in params.get("TemplateParamSet") or []]
    settings = load_settings(store)
    if template_id in settings["unapproved_templates"]:
        raise ApiError("FailedOperation.TemplateIncorrectOrUnapproved")
    rules = Rules(store)
    # A request-level rule for one number refuses any request that includes that number.
    for phone in {None, *(_number(str(raw))[0] for raw in numbers)}:
        request_rule = rules.take(_refuses_request, phone)
        if request_rule is not None:
            raise ApiError(request_rule["code"], request_rule.get("message"))
    context = str(params.get("SessionContext") or "")
    sign_name = str(params.get("SignName") or "") or None
    content = json.dumps([template_id, sign_name, template_params], ensure_ascii=False)
    statuses = []
    reports = []
    now = time.time()
    for raw in numbers:
        phone, code = _number(str(raw))
        if code is None:
            rule = rules.take(_refuses_number, phone)
            code = (
                rule["code"]
                if rule is not None
                else _over_cap(store, settings, phone, content, now)
            )
        serial = f"2433:{secrets.randbelow(10**28):028d}" if code == "Ok" else None
        report = None
        if serial is not None:
            failing = rules.take(lambda rule: "report" in rule, phone)
            report = (
                ("FAIL", failing.get("errmsg") or "MK:0001") if failing else ("SUCCESS", "DELIVRD")
            )
        store.conn.execute(
            "INSERT INTO tencent_sms (serial_no, sdk_app_id, phone, template_id, sign_name, "
            "params, session_context, extend_code, code, report_status, errmsg, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                serial,
                app_id,
                phone,
                template_id,
                sign_name,
                json.dumps(template_params, ensure_ascii=False),
                context,
                str(params.get("ExtendCode") or "") or None,
                code,
                report[0] if report else None,
                report[1] if report else None,
                now,
            ),
        )
        statuses.append(
            {
                "SerialNo": serial or "",
                "PhoneNumber": phone,
                "Fee": 1 if serial else 0,
                "SessionContext": context,
                "Code": code,
                "Message": "send success" if code == "Ok" else MESSAGES.get(code, code),
                "IsoCode": "CN" if phone.startswith("+86") else "DEF",
            }
        )
        if serial is not None and report is not None:
            reports.append(_status_report(serial, phone, report, now))
    if reports:
        queue_reports(state.push_url("tencent", "sms-status"), reports, settings)
    return {"SendStatusSet": statuses}


def pull_sms_reply_status(params: dict[str, Any]) -> dict[str, Any]:
    """PullSmsReplyStatus: replies not pulled before, oldest first, at most Limit (100)."""
    try:
        limit = int(params.get("Limit") or 0)
    except (TypeError, ValueError):
        limit = 0
    if not 1 <= limit <= 100:
        raise ApiError("InvalidParameterValue.LimitVerifyFail", "Limit must be 1 to 100")
    conn = sandbox_state().store.conn
    rows = conn.execute(
        "SELECT * FROM tencent_replies WHERE pulled = 0 ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    conn.executemany(
        "UPDATE tencent_replies SET pulled = 1 WHERE id = ?", [(r["id"],) for r in rows]
    )
    return {
        "PullSmsReplyStatusSet": [
            {
                "ExtendCode": row["extend"],
                "CountryCode": "86",
                "PhoneNumber": row["phone"],
                "SignName": row["sign_name"] or "",
                "ReplyContent": row["text"],
                "ReplyTime": row["time"],
                "SubscriberNumber": row["phone"].removeprefix("+86"),
            }
            for row in rows
        ]
    }


def pull_sms_send_status_by_phone_number(params: dict[str, Any]) -> dict[str, Any]:
    """PullSmsSendStatusByPhoneNumber: the reports on messages accepted for one number within
    [BeginTime, EndTime], oldest first, at most Limit (100)."""
    try:
        begin, end, limit = (int(params[key]) for key in ("BeginTime", "EndTime", "Limit"))
    except (KeyError, TypeError, ValueError):
        raise ApiError("MissingParameter", "BeginTime, EndTime and Limit are required") from None
    if not 1 <= limit <= 100:
        raise ApiError("InvalidParameterValue.LimitVerifyFail", "Limit must be 1 to 100")
    phone, code = _number(str(params.get("PhoneNumber") or ""))
    if code is not None:
        raise ApiError(code)
    rows = (
        sandbox_state()
        .store.conn.execute(
            "SELECT * FROM tencent_sms WHERE phone = ? AND code = 'Ok' AND created_at >= ? "
            "AND created_at <= ? ORDER BY id LIMIT ?",
            (phone, begin, end, limit),
        )
        .fetchall()
    )
    return {
        "PullSmsSendStatusSet": [
            {
                "UserReceiveTime": int(row["created_at"]),
                "CountryCode": "86",
                "SubscriberNumber": phone.removeprefix("+86"),
                "PhoneNumber": phone,
                "SerialNo": row["serial_no"],
                "ReportStatus": row["report_status"],
                "Description": row["errmsg"],
                "SessionContext": "",  # Tencent echoes it only where it enabled that
            }
            for row in rows
        ]
    }


ACTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "SendSms": send_sms,
    "PullSmsReplyStatus": pull_sms_reply_status,
    "PullSmsSendStatusByPhoneNumber": pull_sms_send_status_by_phone_number,
}
# Tencent Cloud API 3.0 services this sandbox answers, by X-TC-Version: the service its
# signatures are scoped to, and its actions. Voice (devtools/sandbox/tencent_voice.py) adds
# VMS's 2020-09-02.
SERVICES: dict[str, tuple[str, dict[str, Callable[[dict[str, Any]], dict[str, Any]]]]] = {
    API_VERSION: (SERVICE, ACTIONS)
}


def _refuses_request(rule: dict[str, Any]) -> bool:
    """A rule that refuses the whole request (Response.Error)."""
    return "code" in rule and not _per_number(rule["code"])


def _refuses_number(rule: dict[str, Any]) -> bool:
    """A rule that refuses one number (in its SendStatus) rather than the whole request."""
    return _per_number(rule.get("code"))


def _per_number(code: Any) -> bool:
    return isinstance(code, str) and code.startswith(PER_NUMBER_CODES)


def _number(raw: str) -> tuple[str, str | None]:
    """A number as Tencent reads it (+86, 0086, 86 or bare 11 digits), and its refusal code."""
    text = raw.strip()
    digits = text.removeprefix("+")
    if not digits.isdigit():
        return text, "FailedOperation.PhoneNumberParseFail"
    if text.startswith("+86"):
        national = text[3:]
    elif text.startswith("0086"):
        national = text[4:]
    elif text.startswith("86") and len(text) == 13:
        national = text[2:]
    elif not text.startswith("+"):
        national = text
    else:
        return text, "InvalidParameterValue.IncorrectPhoneNumber"  # not a mainland number
    if not CN_MOBILE.match(national):
        return text, "InvalidParameterValue.IncorrectPhoneNumber"
    return "+86" + national, None


def _over_cap(
    store: SandboxStore, settings: dict[str, Any], phone: str, content: str, now: float
) -> str:
    """ "Ok", or the code of the cap this message would break (every accepted send counts)."""
    cap = settings.get("daily_cap")
    if cap is not None:
        day = datetime.fromtimestamp(now, BEIJING).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        start = day.timestamp()
        end = (day + timedelta(days=1)).timestamp()
        sent = store.conn.execute(
            "SELECT count(*) FROM tencent_sms WHERE phone = ? AND code = 'Ok' "
            "AND created_at >= ? AND created_at < ?",
            (phone, start, end),
        ).fetchone()[0]
        if sent >= cap:
            return "LimitExceeded.PhoneNumberDailyLimit"
    window = settings.get("same_content_s")
    if window is not None:
        rows = store.conn.execute(
            "SELECT template_id, sign_name, params FROM tencent_sms WHERE phone = ? "
            "AND code = 'Ok' AND created_at >= ?",
            (phone, now - window),
        ).fetchall()
        for row in rows:
            same = json.dumps(
                [row["template_id"], row["sign_name"], json.loads(row["params"])],
                ensure_ascii=False,
            )
            if same == content:
                return "LimitExceeded.PhoneNumberThirtySecondLimit"
    return "Ok"


def _status_report(serial: str, phone: str, report: tuple[str, str], now: float) -> dict[str, Any]:
    """One status report item in Tencent's push format."""
    status, errmsg = report
    return {
        "user_receive_time": datetime.fromtimestamp(now, BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "nationcode": "86",
        "mobile": phone.removeprefix("+86"),
        "report_status": status,
        "errmsg": errmsg,
        "description": "用户短信送达成功" if status == "SUCCESS" else "用户短信未送达",
        "sid": serial,
    }


# Settings and rules


def load_settings(store: SandboxStore) -> dict[str, Any]:
    """The switches in force: the defaults, with what was PUT over them."""
    row = store.conn.execute("SELECT settings FROM tencent_settings WHERE id = 1").fetchone()
    return {**DEFAULT_SETTINGS, **(json.loads(row[0]) if row else {})}


class Rules:
    """The rules that apply to one request, each used at most once per number."""

    def __init__(self, store: SandboxStore) -> None:
        self.store = store
        self.rows = [
            (row["id"], json.loads(row["rule"]), row["remaining"])
            for row in store.conn.execute(
                "SELECT * FROM tencent_rules WHERE remaining IS NULL OR remaining > 0 ORDER BY id"
            )
        ]

    def take(
        self, wanted: Callable[[dict[str, Any]], bool], phone: str | None = None
    ) -> dict[str, Any] | None:
        """The first wanted rule for this number (or any number) with a count left."""
        for rule_id, rule, remaining in self.rows:
            if not wanted(rule) or (rule.get("to") not in (None, phone)):
                continue
            if remaining is None:
                return rule
            used = self.store.conn.execute(
                "UPDATE tencent_rules SET remaining = remaining - 1 WHERE id = ? AND remaining > 0",
                (rule_id,),
            ).rowcount
            if used:
                return rule
        return None


_RULE_KEYS = {"to", "code", "message", "count", "report", "errmsg"}


def parse_rule(payload: Any) -> dict[str, Any]:
    """Check a posted rule; ValueError saying what is wrong."""
    if not isinstance(payload, dict) or not payload:
        raise ValueError("a rule is a non-empty JSON object")
    unknown = set(payload) - _RULE_KEYS
    if unknown:
        raise ValueError(f"unknown rule keys: {', '.join(sorted(unknown))}")
    if ("code" in payload) == ("report" in payload):
        raise ValueError("a rule has either a code (refuse) or a report (FAIL)")
    if "report" in payload and payload["report"] != "FAIL":
        raise ValueError("report must be FAIL")
    count = payload.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer")
    for key in ("to", "code", "message", "errmsg"):
        if key in payload and (not isinstance(payload[key], str) or not payload[key]):
            raise ValueError(f"{key} must be a non-empty string")
    return dict(payload)


_SETTING_TYPES: dict[str, Callable[[Any], bool]] = {
    "daily_cap": lambda v: v is None or (type(v) is int and v >= 0),
    "same_content_s": lambda v: v is None or (type(v) is int and v >= 0),
    "unapproved_templates": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "push_delay_ms": lambda v: type(v) is int and 0 <= v <= 600_000,
    "push_twice": lambda v: isinstance(v, bool),
}


# Pushes


def queue_reports(url: str | None, reports: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    """Keep the reports to push, and have them pushed after the delay with whatever else came
    in meanwhile (so several sends make one batch)."""
    if url is None:
        return
    tencent = _tencent()
    with tencent.lock:
        tencent.pending.extend(reports)
        if tencent.flush_queued:
            return
        tencent.flush_queued = True
    delay = settings["push_delay_ms"] / 1000
    twice = bool(settings["push_twice"])
    store = sandbox_state().store

    def flush(dispatcher: CallbackDispatcher) -> None:
        time.sleep(delay)
        with tencent.lock:
            batch = tencent.pending[:]
            tencent.pending.clear()
            tencent.flush_queued = False
        for start in range(0, len(batch), MAX_BATCH):
            chunk = batch[start : start + MAX_BATCH]
            for _ in range(2 if twice else 1):
                push(store, "sms-status", url, chunk)

    sandbox_state().dispatcher.submit(flush)


class RawBody(str):
    """A push body sent as it is, not as JSON (a malformed push, for tests)."""


_sessions = threading.local()


def push(store: SandboxStore, feed: str, url: str, body: Any) -> bool:
    """POST one JSON push until the answer is exactly Tencent's OK; record how it ended."""
    session: requests.Session | None = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # a local app is never behind a proxy
        _sessions.session = session
    if isinstance(body, RawBody):
        payload = body.encode()
    else:
        payload = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "TencentCloud-SMS-Callback"}
    attempts, http_status, answer = 0, None, None
    for delay in (0.0, *RETRY_DELAYS):
        if delay:
            time.sleep(delay)
        attempts += 1
        try:
            response = session.post(url, data=payload, headers=headers, timeout=POST_TIMEOUT)
        except requests.RequestException as exc:
            http_status, answer = None, str(exc)
            continue
        http_status, answer = response.status_code, response.text
        try:
            acknowledged = response.status_code == 200 and response.json() == ACK
        except ValueError:
            acknowledged = False
        if acknowledged:
            _record_push(store, feed, url, payload, "delivered", http_status, answer, attempts)
            return True
    _record_push(store, feed, url, payload, "dropped", http_status, answer, attempts)
    return False


def _record_push(
    store: SandboxStore,
    feed: str,
    url: str,
    payload: bytes,
    outcome: str,
    http_status: int | None,
    answer: str | None,
    attempts: int,
) -> None:
    store.conn.execute(
        "INSERT INTO tencent_pushes (feed, url, body, outcome, http_status, answer, attempts, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            feed,
            url,
            payload.decode(),
            outcome,
            http_status,
            (answer or "")[:2000],
            attempts,
            time.time(),
        ),
    )


# The control endpoints


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@bp.get("/sms")
def list_sms() -> Response:
    """Every SendSms number (accepted or refused), optionally only those to ?to=, oldest first."""
    conn = sandbox_state().store.conn
    to = request.args.get("to")
    rows = (
        conn.execute("SELECT * FROM tencent_sms WHERE phone = ? ORDER BY id", (to,))
        if to
        else conn.execute("SELECT * FROM tencent_sms ORDER BY id")
    )
    return jsonify(
        [
            {
                "serial_no": row["serial_no"],
                "sdk_app_id": row["sdk_app_id"],
                "to": row["phone"],
                "template_id": row["template_id"],
                "sign_name": row["sign_name"],
                "params": json.loads(row["params"]),
                "session_context": row["session_context"],
                "extend_code": row["extend_code"],
                "code": row["code"],
                "report_status": row["report_status"],
                "errmsg": row["errmsg"],
                "created_at": datetime.fromtimestamp(row["created_at"], UTC).isoformat(),
            }
            for row in rows
        ]
    )


@bp.get("/settings")
def get_settings() -> Response:
    """The switches in force."""
    return jsonify(load_settings(sandbox_state().store))


@bp.put("/settings")
def put_settings() -> tuple[Response, int]:
    """Change some switches (the others keep their values); 400 says what is wrong."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"error": "settings are a JSON object"}), 400
    for key, value in payload.items():
        check = _SETTING_TYPES.get(key)
        if check is None or not check(value):
            return jsonify({"error": f"bad setting {key}: {value!r}"}), 400
    store = sandbox_state().store
    settings = {**load_settings(store), **payload}
    changed = {key: value for key, value in settings.items() if DEFAULT_SETTINGS[key] != value}
    store.conn.execute(
        "INSERT INTO tencent_settings (id, settings) VALUES (1, ?) "
        "ON CONFLICT (id) DO UPDATE SET settings = excluded.settings",
        (json.dumps(changed),),
    )
    return jsonify(settings), 200


@bp.post("/rules")
def add_rule() -> tuple[Response, int]:
    """Add a refusal or failed-report rule; 400 says what is wrong with it."""
    try:
        rule = parse_rule(request.get_json(silent=True))
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    cursor = sandbox_state().store.conn.execute(
        "INSERT INTO tencent_rules (rule, remaining) VALUES (?, ?)",
        (json.dumps(rule), rule.get("count")),
    )
    return jsonify({"id": cursor.lastrowid, "rule": rule}), 201


@bp.get("/pushes")
def list_pushes() -> Response:
    """How each push ended (delivered, or dropped after its attempts), optionally ?feed=."""
    conn = sandbox_state().store.conn
    feed = request.args.get("feed")
    rows = (
        conn.execute("SELECT * FROM tencent_pushes WHERE feed = ? ORDER BY id", (feed,))
        if feed
        else conn.execute("SELECT * FROM tencent_pushes ORDER BY id")
    )
    return jsonify(
        [
            {
                "feed": row["feed"],
                "url": row["url"],
                "body": _json_or_text(row["body"]),
                "outcome": row["outcome"],
                "http_status": row["http_status"],
                "answer": row["answer"],
                "attempts": row["attempts"],
            }
            for row in rows
        ]
    )


@bp.post("/replies")
def add_reply() -> tuple[Response, int]:
    """A member texts back: keep the reply (for PullSmsReplyStatus) and push it, one object,
    to the app's sms-reply address. Body: {"phone", "text", "sign"?, "extend"?, "time"?}."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"error": "a reply is a JSON object"}), 400
    phone, code = _number(str(payload.get("phone") or ""))
    text = payload.get("text")
    if code is not None or not isinstance(text, str) or not text:
        return jsonify({"error": "a reply needs a mainland phone and a text"}), 400
    when = payload.get("time", int(time.time()))
    if type(when) is not int:
        return jsonify({"error": "time is a Unix timestamp in seconds"}), 400
    state = sandbox_state()
    sign = str(payload.get("sign") or "")
    extend = str(payload.get("extend") or "")
    state.store.conn.execute(
        "INSERT INTO tencent_replies (phone, sign_name, text, extend, time) VALUES (?, ?, ?, ?, ?)",
        (phone, sign, text, extend, when),
    )
    item = {
        "extend": extend,
        "mobile": phone.removeprefix("+86"),
        "nationcode": "86",
        "sign": sign,
        "text": text,
        "time": when,
    }
    url = state.push_url("tencent", "sms-reply")
    if url is not None:
        store = state.store

        def push_reply(dispatcher: CallbackDispatcher) -> None:
            push(store, "sms-reply", url, item)

        state.dispatcher.submit(push_reply)
    return jsonify({"reply": item, "pushed_to": url}), 201


@bp.post("/push")
def push_raw() -> tuple[Response, int]:
    """Push any body to one of the app's Tencent addresses, as a broken Tencent would (tests):
    {"feed": "sms-status" | "sms-reply" | "voice-status", "raw": "<text sent as is>"} or
    {"feed", "body": <JSON>}."""
    payload = request.get_json(silent=True)
    if (
        not isinstance(payload, dict)
        or payload.get("feed") not in ("sms-status", "sms-reply", "voice-status")
        or ("raw" in payload) == ("body" in payload)
        or ("raw" in payload and not isinstance(payload["raw"], str))
    ):
        return jsonify({"error": 'give "feed" (an address of ours) and "raw" or "body"'}), 400
    state = sandbox_state()
    feed = str(payload["feed"])
    url = state.push_url("tencent", feed)
    if url is None:
        return jsonify({"error": "the sandbox has no push base and secret"}), 400
    store = state.store
    body = RawBody(payload["raw"]) if "raw" in payload else payload["body"]

    def push_it(dispatcher: CallbackDispatcher) -> None:
        push(store, feed, url, body)

    state.dispatcher.submit(push_it)
    return jsonify({"pushed_to": url}), 202


@bp.delete("")
def clear() -> Response:
    """Forget everything Tencent: messages, replies, switches, rules and push records."""
    conn = sandbox_state().store.conn
    cleared = {table: conn.execute(f"DELETE FROM {table}").rowcount for table in _TABLES}
    with _tencent().lock:
        _tencent().pending.clear()
    return jsonify({"cleared": cleared})


__all__ = ["api", "bp", "check_signature", "init_app", "push"]
