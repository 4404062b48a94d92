"""`flask phone`: a member's phone on the command line, speaking to the app as its provider does.

`sms` texts the app, `call` dials the hotline and walks the real TwiML over HTTP (Gather,
Record, Redirect, Hangup), and `outbox` lists what the sandbox was asked to send.

Under Twilio (and the sandbox standing in for it) a text is Twilio's signed webhook to /sms,
whose TwiML holds the answer. Under the mainland providers (`aliyun`, `tencent`) a text is the
provider's push to our push address (Alibaba's SmsUp batch, Tencent's reply object), and the
answer is a template SMS the outbox sends later: `sms` waits for it and prints it as the
member reads it, from what the sandbox was sent (signature and filled template).
"""

from __future__ import annotations

import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import click
import requests
from flask import current_app
from flask.cli import AppGroup
from redis import RedisError
from rq import Worker
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from infra import clients
from infra.db import get_session
from infra.providers import aliyun as aliyun_provider
from infra.providers import tencent as tencent_provider
from models import Direction, Message, MessageStatus, try_normalize, utcnow
from models.sms_templates import PROVIDERS as TEMPLATE_PROVIDERS
from models.sms_templates import ProviderTemplate, registry

API_VERSION = "2010-04-01"
TIMEOUT = 20.0  # Twilio waits 15 s for a webhook; a little more so we see the app's own answer
# A call that asks for more documents than this is going round in circles.
MAX_REQUESTS = 60
RECORDING_SECONDS = 5
# How long `sms` waits for a template provider's answer to leave the outbox.
ANSWER_WAIT_S = 30.0
POLL_S = 0.3
BEIJING = ZoneInfo("Asia/Shanghai")
MAINLAND_MOBILE = "+861"

phone_cli = AppGroup("phone", help="Text and call the app as a member's phone would.")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def sms_params(account_sid: str, sid: str, body: str, sender: str, to: str) -> dict[str, str]:
    """The form Twilio posts to /sms for a text received from `sender`."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "Body": body,
        "From": sender,
        "FromCountry": "CN",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": to,
        "ToCountry": "CN",
    }


def call_params(account_sid: str, call_sid: str, caller: str, called: str) -> dict[str, str]:
    """The form Twilio posts to /voice for every request of an inbound call."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid,
        "Called": called,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "FromCountry": "CN",
        "To": called,
        "ToCountry": "CN",
    }


def twilio_signature(auth_token: str, public_url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio sends: over the public URL and the params."""
    return RequestValidator(auth_token).compute_signature(public_url, dict(params))


@dataclass
class Webhooks:
    """Posts form requests signed as Twilio signs them: over the public URL (PUBLIC_BASE_URL
    plus the path), while sending them to `post_base` (where the app really listens)."""

    public_base: str
    post_base: str
    auth_token: str
    http: requests.Session = field(default_factory=requests.Session)

    def post(self, public_url: str, params: Mapping[str, str]) -> requests.Response:
        """POST params to the app; the signature covers the public URL and the params."""
        signature = twilio_signature(self.auth_token, public_url, params)
        try:
            return self.http.post(
                self.where(public_url),
                data=dict(params),
                headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise click.ClickException(f"cannot reach {self.where(public_url)}: {exc}") from exc

    def where(self, public_url: str) -> str:
        """The URL actually posted to for a public URL."""
        if public_url.startswith(self.public_base):
            return self.post_base + public_url[len(self.public_base) :]
        return public_url

    def path(self, public_url: str) -> str:
        """The public URL without the base, for printing."""
        if public_url.startswith(self.public_base):
            return public_url[len(self.public_base) :] or "/"
        return public_url


def _webhooks(url: str | None) -> Webhooks:
    config = current_app.config
    public_base = str(config["PUBLIC_BASE_URL"]).rstrip("/")
    return Webhooks(public_base, (url or public_base).rstrip("/"), str(config["TWILIO_AUTH_TOKEN"]))


def _number(raw: str) -> str:
    # Unregistered or odd numbers are worth simulating too, so a bad one is sent as typed.
    return try_normalize(raw, current_app.config["DEFAULT_REGION"]) or raw.strip()


@phone_cli.command("sms")
@click.argument("number")
@click.argument("text")
@click.option("--url", default=None, help="Where the app listens [PUBLIC_BASE_URL].")
@click.option(
    "--wait",
    type=float,
    default=ANSWER_WAIT_S,
    show_default=True,
    help="Seconds to wait for the answer under aliyun or tencent (it leaves the outbox later).",
)
def sms_command(number: str, text: str, url: str | None, wait: float) -> None:
    """Text TEXT from NUMBER to the app as its provider would, and print the answer."""
    config = current_app.config
    if config["PROVIDER"] in TEMPLATE_PROVIDERS:
        _template_sms(str(config["PROVIDER"]), number, text, url, wait)
        return
    webhooks = _webhooks(url)
    params = sms_params(
        str(config["TWILIO_ACCOUNT_SID"]),
        new_sid("SM"),
        text,
        _number(number),
        str(config["TWILIO_FROM_NUMBER"]),
    )
    response = webhooks.post(webhooks.public_base + "/sms", params)
    if response.status_code != 200:
        raise click.ClickException(f"/sms answered HTTP {response.status_code}")
    replies = [node.text or "" for node in ET.fromstring(response.content).iter("Message")]
    if not replies:
        click.echo("(no reply)")
    for reply in replies:
        click.echo(reply)


# The mainland providers: a text is their push, the answer a template SMS from the outbox.


@dataclass(frozen=True)
class PushedSms:
    """A member's text as a mainland provider pushes it: where, the body, and the id the app
    stores it under (`<provider>:<key>` cut to 64 characters, the inbound message's
    provider_sid, as gateway.cn_texts writes it)."""

    feed: str
    body: Any
    sid: str


def mainland_mobile(raw: str, region: str) -> str:
    """The E.164 form of a mainland mobile number; click.BadParameter saying what is wrong."""
    phone = try_normalize(raw, region)
    if phone is None or not phone.startswith(MAINLAND_MOBILE) or len(phone) != 14:
        raise click.BadParameter(
            f"{raw!r} is not a mainland mobile number (13800000001 or +8613800000001): "
            "the mainland providers push texts from those only",
            param_hint="NUMBER",
        )
    return phone


def pushed_sms(
    provider: str, phone: str, text: str, sign_name: str, at: datetime | None = None
) -> PushedSms:
    """The push `provider` makes for a text from `phone` (E.164, mainland) sent at `at` (now):
    Alibaba's SmsUp array of one item, or Tencent's reply object."""
    now = at or utcnow()
    if provider == aliyun_provider.PROVIDER:
        # Alibaba numbers each text (sequence_id); the feed keeps it under `seq:<id>`.
        sequence = time.time_ns() // 1000 + secrets.randbelow(1000)
        item = {
            "phone_number": phone.removeprefix("+86"),
            "send_time": now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "content": text,
            "sign_name": sign_name,
            "dest_code": "",
            "sequence_id": sequence,
        }
        return PushedSms("sms-up", [item], f"{provider}:seq:{sequence}"[:64])
    reply = {
        "extend": "",
        "mobile": phone.removeprefix("+86"),
        "nationcode": "86",
        "sign": sign_name,
        "text": text,
        "time": int(now.timestamp()),
    }
    key = tencent_provider.reply_text(reply).key
    return PushedSms("sms-reply", reply, f"{provider}:{key}"[:64])


# The body each provider wants back from a push, exactly.
PUSH_ACKS: dict[str, Any] = {
    aliyun_provider.PROVIDER: {"code": 0, "msg": "接收成功"},
    tencent_provider.PROVIDER: {"result": 0, "errmsg": "OK"},
}


def _template_sms(provider: str, number: str, text: str, url: str | None, wait: float) -> None:
    config = current_app.config
    if not text.strip():
        raise click.BadParameter(
            "the text is empty: a member's text has at least one character", param_hint="TEXT"
        )
    phone = mainland_mobile(number, str(config["DEFAULT_REGION"]))
    secret = str(config.get("CN_CALLBACK_SECRET") or "")
    if not secret:
        raise click.ClickException(
            "CN_CALLBACK_SECRET is not set: the app's push addresses are off, so no text reaches it"
        )
    sign_name = str(config.get(f"{provider.upper()}_SMS_SIGN_NAME") or "")
    pushed = pushed_sms(provider, phone, text, sign_name)
    base = (url or str(config["PUBLIC_BASE_URL"])).rstrip("/")
    address = f"{base}/cn/{provider}/{pushed.feed}/{secret}"
    try:
        response = requests.post(
            address,
            data=json.dumps(pushed.body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {base}: {exc}") from exc
    path = f"/cn/{provider}/{pushed.feed}/…"
    if response.status_code != 200 or _json_or_none(response) != PUSH_ACKS[provider]:
        raise click.ClickException(
            f"{path} answered HTTP {response.status_code}: {response.text[:200]}"
        )
    if not _workers_running():
        raise click.ClickException(
            "the app took the text, but no rq worker is running to answer it: start one "
            "(make run, or rq worker -w workers.worker.AppWorker high default bulk calls); "
            "the answer goes out then"
        )
    answer = _wait_for_answer(pushed.sid, phone, wait)
    click.echo(_answer_line(answer))


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _workers_running() -> bool:
    """Whether any rq worker is registered on the app's Redis (True if it cannot tell)."""
    try:
        return Worker.count(connection=clients.redis()) > 0
    except RedisError:  # a Redis we cannot read says nothing about workers
        return True


def _wait_for_answer(sid: str, phone: str, wait: float) -> Message:
    """The outbound row answering the text stored as `sid`, once it left the outbox (or
    failed, or was held for later); ClickException after `wait` seconds."""
    deadline = time.monotonic() + wait
    session = get_session()
    answer: Message | None = None
    while True:
        session.rollback()  # see what the worker committed since
        inbound = session.scalar(select(Message).where(Message.provider_sid == sid))
        if inbound is not None:
            # The reply is queued with the text, in its transaction, after it.
            answer = session.scalar(
                select(Message)
                .where(
                    Message.direction == Direction.OUT,
                    Message.phone == phone,
                    Message.essential.is_(True),
                    Message.id > inbound.id,
                )
                .order_by(Message.id)
                .limit(1)
            )
        if answer is not None and (
            answer.provider_sid is not None
            or answer.status is MessageStatus.FAILED
            or answer.hold_reason is not None
        ):
            return answer
        if time.monotonic() > deadline:
            where = (
                "the text is not answered yet"
                if answer is None
                else f"its answer is still {answer.status.value} in the outbox"
            )
            raise click.ClickException(f"no answer within {wait:g} s: {where}")
        time.sleep(POLL_S)


def _answer_line(answer: Message) -> str:
    """The answer as the member reads it, or why it has not gone out."""
    if answer.status is MessageStatus.FAILED:
        return f"(the answer failed: {answer.error_code or 'no code'}) {answer.body}"
    if answer.provider_sid is None:
        when = answer.next_attempt_at
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # SQLite gives the stored UTC time back naive
        at = f" until {when.astimezone(BEIJING):%Y-%m-%d %H:%M} Beijing time" if when else ""
        reason = answer.hold_reason.value if answer.hold_reason else "queued"
        return f"(held{at}: {reason}) {answer.body}"
    for entry in template_outbox(current_app.config, answer.phone):
        if entry.get("message_id") == answer.id:
            return str(entry["body"])
    return answer.body  # the sandbox does not list it (another sandbox): the row's own text


@phone_cli.command("outbox")
@click.option("--to", "to", default=None, help="Only messages to this number.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def outbox_command(to: str | None, as_json: bool) -> None:
    """List the messages the sandbox was asked to send, oldest first."""
    config = current_app.config
    if config["PROVIDER"] in TEMPLATE_PROVIDERS:
        messages = template_outbox(config, _number(to) if to else None)
    else:
        messages = _twilio_outbox(str(config["SANDBOX_URL"]), to)
    if as_json:
        click.echo(json.dumps(messages, ensure_ascii=False, indent=2))
        return
    if not messages:
        click.echo("(no messages)")
    for message in messages:
        template = f"  [{message['template_code']}]" if message.get("template_code") else ""
        click.echo(
            f"{message.get('created_at', '')}  {message.get('to', '')}  "
            f"{message.get('status', '')}  {message.get('body', '')}{template}"
        )


def _twilio_outbox(sandbox_url: str, to: str | None) -> list[dict[str, Any]]:
    base = sandbox_url.rstrip("/")
    params = {"to": _number(to)} if to else {}
    return _sandbox_get(base, f"{base}/_sandbox/messages", params)


def _sandbox_get(base: str, url: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    try:
        response = requests.get(url, params=dict(params), timeout=TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot read the sandbox at {base}: {exc}") from exc
    rows: list[dict[str, Any]] = response.json()
    return rows


def sandbox_base(config: Mapping[str, Any]) -> str:
    """Where the sandbox that stands in for the configured mainland provider listens: the
    provider's endpoint; ClickException when that endpoint is the provider itself."""
    provider = str(config["PROVIDER"])
    module = aliyun_provider if provider == aliyun_provider.PROVIDER else tencent_provider
    endpoint = str(config[f"{provider.upper()}_SMS_ENDPOINT"]).rstrip("/")
    if not module.is_sandbox(config):
        raise click.ClickException(
            f"{provider.upper()}_SMS_ENDPOINT is {provider}'s own API, not the sandbox: "
            "there is no outbox to read"
        )
    return endpoint if "://" in endpoint else f"http://{endpoint}"


def template_outbox(config: Mapping[str, Any], to: str | None) -> list[dict[str, Any]]:
    """What the sandbox's Alibaba or Tencent API was asked to send (to `to`, E.164), oldest
    first: the outbox's fields (sid, to, body as the member reads it, status, error_code,
    created_at) with the template code, the signature and the parameters it was sent."""
    provider = str(config["PROVIDER"])
    base = sandbox_base(config)
    if provider == aliyun_provider.PROVIDER:
        rows = _sandbox_get(base, f"{base}/_sandbox/aliyun/messages", {"to": to} if to else {})
        return [_aliyun_entry(row) for row in rows]
    rows = _sandbox_get(base, f"{base}/_sandbox/tencent/sms", {"to": to} if to else {})
    return [_tencent_entry(row) for row in rows]


# Alibaba's SendStatus: 1 waiting for the receipt, 2 failed, 3 delivered.
ALIYUN_STATUSES = {1: "sent", 2: "undelivered", 3: "delivered"}


def _aliyun_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    params = row.get("params") or {}
    err = row.get("err_code")
    return {
        "sid": row.get("biz_id"),
        "to": aliyun_provider.from_aliyun_number(str(row.get("to") or "")),
        "body": member_text("aliyun", row.get("template_code"), row.get("sign_name"), params),
        "status": ALIYUN_STATUSES.get(int(row.get("send_status") or 1), "sent"),
        "error_code": err if err and err != "DELIVERED" else None,
        "created_at": row.get("created_at"),
        "template_code": row.get("template_code"),
        "sign_name": row.get("sign_name"),
        "params": params,
        "message_id": _int_or_none(row.get("out_id")),
    }


def _tencent_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    params = row.get("params") or []
    code, report = row.get("code"), row.get("report_status")
    if code != "Ok":
        status, error = "failed", code
    elif report is None:
        status, error = "sent", None
    else:
        status = "delivered" if report == "SUCCESS" else "undelivered"
        error = None if report == "SUCCESS" else row.get("errmsg")
    context = str(row.get("session_context") or "")
    return {
        "sid": row.get("serial_no"),
        "to": row.get("to"),
        "body": member_text("tencent", row.get("template_id"), row.get("sign_name"), params),
        "status": status,
        "error_code": error,
        "created_at": row.get("created_at"),
        "template_code": row.get("template_id"),
        "sign_name": row.get("sign_name"),
        "params": params,
        "message_id": _int_or_none(context.removeprefix("msg:")),
    }


def _int_or_none(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


def template_sent_as(provider: str, code: str) -> ProviderTemplate | None:
    """The registry's template a provider was sent under `code`: its approved code, or its
    name (as the sandbox takes templates not approved yet)."""
    for template in registry().all(provider):
        if code and code in (template.code, template.name):
            return template
    return None


def member_text(provider: str, code: Any, sign_name: Any, params: Any) -> str:
    """What the member's phone shows for a template SMS: 【signature】 and the filled text
    (a template the registry does not know: its code and parameters)."""
    template = template_sent_as(provider, str(code or ""))
    sign = f"【{sign_name}】" if sign_name else ""
    if template is not None:
        values = (
            dict(zip(template.variables, map(str, params), strict=False))
            if isinstance(params, list)
            else {str(k): str(v) for k, v in dict(params).items()}
        )
        try:
            return sign + template.fill(values)
        except KeyError:
            pass  # sent with other parameters than the registry's: show them as they were
    return f"{sign}{code} {json.dumps(params, ensure_ascii=False)}"


@phone_cli.command("call")
@click.argument("number")
@click.option(
    "--press",
    "presses",
    multiple=True,
    help="Keys for the next question, in order ('' waits without pressing; '12#' a number).",
)
@click.option("--record", is_flag=True, help="Speak a short recording at every tone.")
@click.option("--missed", is_flag=True, help="Ring the callback number instead (a missed call).")
@click.option("--url", default=None, help="Where the app listens [PUBLIC_BASE_URL].")
@click.option(
    "--hold",
    is_flag=True,
    help="PROVIDER=aliyun: let the next call to NUMBER ring until this command answers it.",
)
def call_command(
    number: str,
    presses: tuple[str, ...],
    record: bool,
    missed: bool,
    url: str | None,
    hold: bool,
) -> None:
    """Dial the hotline from NUMBER, press the keys given, and print what the caller hears.

    Under PROVIDER=aliyun members cannot ring into a menu of ours: the command answers the
    newest call the sandbox is ringing NUMBER with (`--hold` first), presses the keys, and
    prints what the member heard and what the app saved from the pushed call record.
    """
    config = current_app.config
    if config["PROVIDER"] == "tencent":
        # No hotline there: NUMBER answers the newest call Tencent (the sandbox) rings for it.
        from devtools.phone_tencent import answer_tencent_call

        answer_tencent_call(_number(number), presses, missed)
        return
    if config["PROVIDER"] == "aliyun":
        from devtools.phone_aliyun import answer_call, hold_calls

        if hold:
            hold_calls(_number(number))
        else:
            answer_call(_number(number), presses)
        return
    simulator = CallSimulator(
        webhooks=_webhooks(url),
        caller=_number(number),
        called=str(config["TWILIO_FROM_NUMBER"]),
        account_sid=str(config["TWILIO_ACCOUNT_SID"]),
        recordings_base=str(config["SANDBOX_URL"]).rstrip("/") + "/_sandbox/recordings",
        record=record,
    )
    simulator.dial("/voice/callback" if missed else "/voice", presses)


@dataclass
class CallSimulator:
    """One inbound call walked as Twilio walks it, printing what the caller hears."""

    webhooks: Webhooks
    caller: str
    called: str
    account_sid: str
    recordings_base: str
    record: bool = False
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    requests_made: int = 0

    def dial(self, path: str, presses: Iterable[str]) -> None:
        """Walk the call from its first document until it hangs up, then post its status."""
        keys = deque(presses)
        url: str | None = self.webhooks.public_base + path
        extra: dict[str, str] = {}
        status = "ringing"
        while url is not None:
            if self.requests_made >= MAX_REQUESTS:
                raise click.ClickException(f"more than {MAX_REQUESTS} requests: the call loops")
            document = self._fetch(url, {"CallStatus": status, **extra})
            status = "in-progress"
            url, extra = self._play(url, document, keys)
        self._post_status()

    def _params(self) -> dict[str, str]:
        return call_params(self.account_sid, self.call_sid, self.caller, self.called)

    def _fetch(self, url: str, extra: Mapping[str, str]) -> ET.Element:
        self.requests_made += 1
        click.echo(f"> POST {self.webhooks.path(url)}")
        response = self.webhooks.post(url, {**self._params(), **extra})
        if response.status_code != 200:
            raise click.ClickException(
                f"{self.webhooks.path(url)} answered HTTP {response.status_code}"
            )
        try:
            return ET.fromstring(response.content)
        except ET.ParseError as exc:
            raise click.ClickException(f"{self.webhooks.path(url)} is not TwiML: {exc}") from exc

    def _play(
        self, url: str, document: ET.Element, keys: deque[str]
    ) -> tuple[str | None, dict[str, str]]:
        """Act out a document's verbs; return the next URL to request (None: the call ended)."""
        for verb in document:
            if verb.tag in ("Say", "Play", "Pause"):
                self._hear(verb)
            elif verb.tag == "Gather":
                for inner in verb:
                    self._hear(inner)
                if not keys:
                    click.echo("  (hangs up)")
                    return None, {}
                digits = _digits(keys.popleft(), verb)
                if not digits:
                    click.echo("  (waits without pressing)")
                    continue  # Twilio goes on to the next verb
                click.echo(f"  press {digits}")
                return self._resolve(url, verb.get("action")), {"Digits": digits}
            elif verb.tag == "Record":
                click.echo(f"  (beep: recording, up to {verb.get('maxLength', '3600')} s)")
                if not self.record:
                    click.echo("  (says nothing)")
                    continue  # an empty recording: Twilio goes on without calling the action
                sid = new_sid("RE")
                click.echo(f"  (speaks {RECORDING_SECONDS} s: {sid})")
                return self._resolve(url, verb.get("action")), {
                    "RecordingUrl": f"{self.recordings_base}/{sid}.wav",
                    "RecordingSid": sid,
                    "RecordingDuration": str(RECORDING_SECONDS),
                    "Digits": "#",
                }
            elif verb.tag == "Redirect":
                return self._resolve(url, (verb.text or "").strip()), {}
            elif verb.tag in ("Hangup", "Reject"):
                reason = f" ({verb.get('reason')})" if verb.get("reason") else ""
                click.echo(f"  <{verb.tag.lower()}>{reason}")
                return None, {}
        click.echo("  (end of the document: the call ends)")
        return None, {}

    @staticmethod
    def _hear(verb: ET.Element) -> None:
        if verb.tag == "Say":
            click.echo(f"  say: {(verb.text or '').strip()}")
        elif verb.tag == "Play":
            click.echo(f"  play: {(verb.text or '').strip()}")
        elif verb.tag == "Pause":
            click.echo(f"  (pause {verb.get('length', '1')} s)")

    @staticmethod
    def _resolve(current: str, target: str | None) -> str:
        # Twilio resolves a relative action against the URL of the document that holds it.
        return urljoin(current, target) if target else current

    def _post_status(self) -> None:
        """Tell the app the call completed, as Twilio does to the number's status callback."""
        url = self.webhooks.public_base + "/voice/status"
        params = {
            **self._params(),
            "CallStatus": "completed",
            "CallDuration": str(10 * self.requests_made),
        }
        response = self.webhooks.post(url, params)
        if response.status_code >= 400:
            click.echo(f"  (status callback answered HTTP {response.status_code})")


def _digits(press: str, gather: ET.Element) -> str:
    """The Digits Twilio would send for keys pressed at a Gather."""
    finish = gather.get("finishOnKey", "#")
    if finish and finish in press:
        press = press[: press.index(finish)]
    limit = gather.get("numDigits")
    if limit and limit.isdigit():
        press = press[: int(limit)]
    return press


__all__ = [
    "CallSimulator",
    "PushedSms",
    "Webhooks",
    "call_params",
    "mainland_mobile",
    "member_text",
    "new_sid",
    "phone_cli",
    "pushed_sms",
    "sms_params",
    "template_outbox",
    "twilio_signature",
]
