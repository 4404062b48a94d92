"""`flask phone`: a member's phone on the command line, speaking to the app as Twilio does.

`sms` texts the app, `call` dials the hotline and walks the real TwiML over HTTP (Gather,
Record, Redirect, Hangup), and `outbox` lists what the sandbox was asked to send.
"""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import click
import requests
from flask import current_app
from flask.cli import AppGroup
from twilio.request_validator import RequestValidator

from models import try_normalize

API_VERSION = "2010-04-01"
TIMEOUT = 20.0  # Twilio waits 15 s for a webhook; a little more so we see the app's own answer
# A call that asks for more documents than this is going round in circles.
MAX_REQUESTS = 60
RECORDING_SECONDS = 5

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
def sms_command(number: str, text: str, url: str | None) -> None:
    """Text TEXT from NUMBER to the app's /sms webhook and print the reply."""
    config = current_app.config
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


@phone_cli.command("outbox")
@click.option("--to", "to", default=None, help="Only messages to this number.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def outbox_command(to: str | None, as_json: bool) -> None:
    """List the messages the sandbox was asked to send, oldest first."""
    base = str(current_app.config["SANDBOX_URL"]).rstrip("/")
    params = {"to": _number(to)} if to else {}
    try:
        response = requests.get(f"{base}/_sandbox/messages", params=params, timeout=TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot read the sandbox at {base}: {exc}") from exc
    messages: list[dict[str, Any]] = response.json()
    if as_json:
        click.echo(json.dumps(messages, ensure_ascii=False, indent=2))
        return
    if not messages:
        click.echo("(no messages)")
    for message in messages:
        click.echo(
            f"{message.get('created_at', '')}  {message.get('to', '')}  "
            f"{message.get('status', '')}  {message.get('body', '')}"
        )


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
    "Webhooks",
    "call_params",
    "new_sid",
    "phone_cli",
    "sms_params",
    "twilio_signature",
]
