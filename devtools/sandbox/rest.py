"""The part of Twilio's 2010-04-01 REST API the app uses: Messages and Calls."""

from __future__ import annotations

import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from devtools.sandbox.callbacks import CallProgress, MessageDelivery
from devtools.sandbox.faults import ERROR_MESSAGES, Fault
from devtools.sandbox.state import SandboxState, sandbox_state

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY_CHARS = 1600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DEFAULT_CALL_SECONDS = 30
# GSM 03.38: the basic set costs one septet a character, the extension set two.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"

bp = Blueprint("sandbox_api", __name__, url_prefix=f"/{API_VERSION}/Accounts/<account_sid>")


@bp.before_request
def check_auth() -> Response | None:
    """Answer 401 unless HTTP basic auth carries the account sid and auth token."""
    state = sandbox_state()
    auth = request.authorization
    username = auth.username if auth is not None and auth.type == "basic" else None
    password = (auth.password if auth is not None else None) or ""
    if (
        username is None
        or not hmac.compare_digest(password.encode(), state.auth_token.encode())
        or (state.account_sid is not None and username != state.account_sid)
    ):
        response = twilio_error(401, 20003, ERROR_MESSAGES[20003])
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response
    if (request.view_args or {}).get("account_sid") != username:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return None


@bp.post("/Messages.json")
def create_message(account_sid: str) -> Response:
    """Accept an SMS: validate it, apply faults, store it and queue its status callbacks."""
    state = sandbox_state()
    form = form_params()
    to = form.get("To", "").strip()
    from_ = form.get("From", "").strip()
    body = form.get("Body", "")
    faults = Faults(state, "messages", to)
    faults.delay()
    if not to:
        return twilio_error(400, 21604, ERROR_MESSAGES[21604])
    if not E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_ and not form.get("MessagingServiceSid"):
        return twilio_error(400, 21603, ERROR_MESSAGES[21603])
    if not body:
        return twilio_error(400, 21602, ERROR_MESSAGES[21602])
    if len(body) > MAX_BODY_CHARS:
        return twilio_error(400, 21617, ERROR_MESSAGES[21617])
    error = faults.error()
    if error is not None:
        return twilio_error(*error)
    if not state.store.take_pace(segments(body), time.time()):
        # Over the account's pace, as Twilio answers a sender that goes too fast.
        return twilio_error(429, 20429, ERROR_MESSAGES[20429])

    final_status, error_code = "delivered", None
    delivery = faults.take(lambda fault: fault.delivery is not None)
    if delivery is not None:
        final_status, error_code = str(delivery.delivery), delivery.error_code or 30003
    status_callback = form.get("StatusCallback") or None
    now = time.time()
    row: dict[str, Any] = {
        "sid": new_sid("SM"),
        "account_sid": account_sid,
        "to_number": to,
        "from_number": from_,
        "body": body,
        "num_segments": segments(body),
        "status_callback": status_callback,
        "created_at": now,
        "updated_at": now,
    }
    if status_callback is not None and faults.callbacks_on():
        state.store.insert_message({**row, "status": "queued"})
        state.dispatcher.submit(
            MessageDelivery(
                sid=row["sid"],
                account_sid=account_sid,
                to=to,
                from_=from_,
                status_callback=status_callback,
                final_status=final_status,
                error_code=error_code,
            )
        )
    else:
        # Nobody hears the steps, so store the end state at once and spare a write per step.
        state.store.insert_message({**row, "status": final_status, "error_code": error_code})
    return json_response(message_json({**row, "status": "queued", "error_code": None}), 201)


@bp.get("/Messages.json")
def list_messages(account_sid: str) -> Response:
    """List messages newest first, filtered by To, From and DateSent, one page at a time.

    The sandbox sends a message the moment it accepts it, so DateSent filters on creation time.
    """
    state = sandbox_state()
    args = request.args
    Faults(state, "messages", args.get("To")).delay()
    try:
        created_from, created_until = date_sent_range(args)
        page = int(args.get("Page", 0))
        page_size = min(int(args.get("PageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
    except ValueError as exc:
        return twilio_error(400, 20001, f"Invalid parameter: {exc}")
    if page < 0 or page_size < 1:
        return twilio_error(400, 20001, "Invalid parameter: Page or PageSize")
    rows = state.store.find_messages(
        account_sid=account_sid,
        to=args.get("To") or None,
        from_=args.get("From") or None,
        created_from=created_from,
        created_until=created_until,
        offset=page * page_size,
        limit=page_size + 1,
    )
    has_next = len(rows) > page_size
    rows = rows[:page_size]
    path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
    filters = {
        key: args[key]
        for key in ("To", "From", "DateSent", "DateSent<", "DateSent>")
        if key in args
    }

    def page_uri(number: int) -> str:
        query = {**filters, "PageSize": page_size, "Page": number}
        if number > 0:
            query["PageToken"] = f"PA{number}"
        return f"{path}?{urlencode(query)}"

    start = page * page_size
    return json_response(
        {
            "first_page_uri": page_uri(0),
            "end": start + len(rows) - 1 if rows else start,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "messages": [message_json(row) for row in rows],
            "uri": page_uri(page),
            "page_size": page_size,
            "start": start,
            "next_page_uri": page_uri(page + 1) if has_next else None,
            "page": page,
        }
    )


@bp.get("/Messages/<sid>.json")
def fetch_message(account_sid: str, sid: str) -> Response:
    """One message as it stands now."""
    state = sandbox_state()
    Faults(state, "messages", None).delay()
    row = state.store.get_message(sid)
    if row is None or row["account_sid"] != account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return json_response(message_json(row))


@bp.post("/Calls.json")
def create_call(account_sid: str) -> Response:
    """Accept an outbound call: validate, apply faults, store it and queue its progress."""
    state = sandbox_state()
    form = form_params()
    to = form.get("To", "").strip()
    from_ = form.get("From", "").strip()
    url = form.get("Url") or None
    twiml = form.get("Twiml") or None
    faults = Faults(state, "calls", to)
    faults.delay()
    if not to:
        return twilio_error(400, 21201, ERROR_MESSAGES[21201])
    if not E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_:
        return twilio_error(400, 21213, ERROR_MESSAGES[21213])
    if url is None and twiml is None:
        return twilio_error(400, 21205, ERROR_MESSAGES[21205])
    error = faults.error()
    if error is not None:
        return twilio_error(*error)

    outcome = faults.take(lambda fault: fault.call_status is not None)
    final_status = outcome.call_status if outcome and outcome.call_status else "completed"
    machine = faults.take(lambda fault: fault.answered_by is not None)
    answered_by = machine.answered_by if machine and machine.answered_by else "human"
    length = faults.take(lambda fault: fault.call_duration is not None)
    duration = length.call_duration if length and length.call_duration else DEFAULT_CALL_SECONDS
    events = tuple(
        event.lower() for value in form.getlist("StatusCallbackEvent") for event in value.split()
    ) or ("completed",)
    status_callback = form.get("StatusCallback") or None
    now = time.time()
    row: dict[str, Any] = {
        "sid": new_sid("CA"),
        "account_sid": account_sid,
        "to_number": to,
        "from_number": from_,
        "url": url,
        "twiml_param": twiml,
        "status_callback": status_callback,
        "status_callback_events": " ".join(events),
        "machine_detection": form.get("MachineDetection") or None,
        "status": "queued",
        "created_at": now,
        "updated_at": now,
    }
    if faults.callbacks_on():
        state.store.insert_call(row)
        state.dispatcher.submit(
            CallProgress(
                sid=row["sid"],
                account_sid=account_sid,
                to=to,
                from_=from_,
                url=url,
                status_callback=status_callback,
                events=events,
                final_status=final_status,
                answered_by=answered_by,
                duration=duration,
            )
        )
    else:
        answered = final_status == "completed"
        state.store.insert_call(
            {
                **row,
                "status": final_status,
                "answered_by": answered_by if answered else None,
                "duration": duration if answered else 0,
            }
        )
    return json_response(call_json(row), 201)


@bp.get("/Calls/<sid>.json")
def fetch_call(account_sid: str, sid: str) -> Response:
    """One call as it stands now."""
    state = sandbox_state()
    Faults(state, "calls", None).delay()
    row = state.store.get_call(sid)
    if row is None or row["account_sid"] != account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return json_response(call_json(row))


class Faults:
    """The fault rules that apply to one request, each used at most once by it."""

    def __init__(self, state: SandboxState, resource: str, to: str | None) -> None:
        self.state = state
        self.rules = [fault for fault in state.store.active_faults() if fault.matches(resource, to)]
        self._taken: set[int] = set()

    def take(self, wanted: Callable[[Fault], bool]) -> Fault | None:
        """The first rule that `wanted` accepts and that still has a count left for us."""
        for fault in self.rules:
            if not wanted(fault):
                continue
            if fault.id in self._taken or self.state.store.consume(fault):
                self._taken.add(fault.id)
                return fault
        return None

    def delay(self) -> None:
        """Be slow when a rule says so."""
        fault = self.take(lambda fault: fault.delay_ms is not None)
        if fault is not None and fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)

    def error(self) -> tuple[int, int, str] | None:
        """The error a rule makes this create answer with, if any."""
        fault = self.take(lambda fault: fault.is_error)
        return None if fault is None else fault.error()

    def callbacks_on(self) -> bool:
        """False when a rule switched callbacks off (benchmarks)."""
        return not any(fault.callbacks is False for fault in self.rules)


def form_params() -> MultiDict[str, str]:
    """The POSTed form; the SDK always sends urlencoded, which is parsed here the short way."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return request.form
    # werkzeug's general form parser costs more than the rest of a create together.
    return MultiDict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))


def json_response(payload: Any, status: int = 200) -> Response:
    """A JSON response without Flask's per-call provider lookups (this is the hot path)."""
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def twilio_error(status: int, code: int, message: str) -> Response:
    """An error response in Twilio's JSON shape, which the SDK turns into TwilioRestException."""
    return json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status,
    )


def message_json(row: dict[str, Any]) -> dict[str, Any]:
    """A message row in the shape of Twilio's Message resource."""
    sid, account_sid = row["sid"], row["account_sid"]
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
    sent = row["status"] not in ("queued", "accepted", "failed")
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": row["body"],
        "date_created": rfc2822(row["created_at"]),
        "date_sent": rfc2822(row["created_at"]) if sent else None,
        "date_updated": rfc2822(row["updated_at"]),
        "direction": "outbound-api",
        "error_code": row.get("error_code"),
        "error_message": None,
        "from": row["from_number"],
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(row["num_segments"]),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": row["status"],
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": row["to_number"],
        "uri": uri,
    }


def call_json(row: dict[str, Any]) -> dict[str, Any]:
    """A call row in the shape of Twilio's Call resource."""
    sid, account_sid = row["sid"], row["account_sid"]
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}.json"
    duration = row.get("duration")
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": row.get("answered_by"),
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(row["created_at"]),
        "date_updated": rfc2822(row["updated_at"]),
        "direction": "outbound-api",
        "duration": None if duration is None else str(duration),
        "end_time": None,
        "forwarded_from": None,
        "from": row["from_number"],
        "from_formatted": row["from_number"],
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "status": row["status"],
        "subresource_uris": {"recordings": uri.replace(".json", "/Recordings.json")},
        "to": row["to_number"],
        "to_formatted": row["to_number"],
        "trunk_sid": None,
        "uri": uri,
    }


def date_sent_range(args: Any) -> tuple[float | None, float | None]:
    """Turn DateSent, DateSent> and DateSent< into [from, until) epoch seconds."""
    created_from: float | None = None
    created_until: float | None = None
    if "DateSent" in args:
        start, is_day = parse_when(args["DateSent"])
        created_from = start
        created_until = start + (86400 if is_day else 1)
    if "DateSent>" in args:
        # Twilio's "after" includes its bound: on or after that day or second.
        created_from, _ = parse_when(args["DateSent>"])
    if "DateSent<" in args:
        end, is_day = parse_when(args["DateSent<"])
        created_until = end + (86400 if is_day else 1)
    return created_from, created_until


def parse_when(value: str) -> tuple[float, bool]:
    """Parse YYYY-MM-DD or an ISO 8601 datetime (UTC if no offset); say whether it was a day."""
    value = value.strip()
    if len(value) == 10:
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp(), True
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp(), False


def rfc2822(epoch: float) -> str:
    """Twilio's date format: 'Thu, 30 Jul 2015 20:12:31 +0000'."""
    return formatdate(epoch, usegmt=False).replace("-0000", "+0000")


def iso8601(epoch: float) -> str:
    """An ISO 8601 UTC timestamp with an explicit offset."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def new_sid(prefix: str) -> str:
    """A resource sid: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def segments(body: str) -> int:
    """How many SMS segments a body takes (GSM-7 when it can, else UCS-2)."""
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in body):
        septets = len(body) + sum(char in GSM_EXTENSION for char in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


__all__ = ["bp", "call_json", "iso8601", "message_json", "rfc2822", "twilio_error"]
