"""The phone simulator behind /admin/phone: a member's basic phone, played against the app.

Texts and calls are posted to the app's own /sms and /voice webhooks in-process (through
the Flask test client), signed with Twilio's RequestValidator over PUBLIC_BASE_URL + path,
so the simulator needs no public URL and runs exactly the code Twilio would reach. A call
waits between requests (at a Gather or a Record); its state is kept in Redis per user.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from flask import current_app

from devtools.phone import call_params, new_sid, sms_params, twilio_signature
from infra import clients

STATE_TTL_S = 3600
MAX_LINES = 60  # lines kept on the simulated screen
MAX_HOPS = 20  # redirects followed for one key press before the call is judged to loop
RECORDING_SECONDS = 5
OUTBOX_TIMEOUT_S = 3


@dataclass
class PhoneState:
    """The simulated phone of one admin user: the screen and the call in progress."""

    phone: str = ""
    lines: list[str] = field(default_factory=list)
    call_sid: str = ""
    document_url: str = ""
    document: str = ""
    position: int = -1  # index of the verb waiting for input (-1: no call waiting)

    @property
    def waiting_for(self) -> str:
        """ "Gather", "Record", or "" when no call waits for input."""
        if not self.call_sid or self.position < 0:
            return ""
        verbs = list(ET.fromstring(self.document))
        return verbs[self.position].tag if self.position < len(verbs) else ""

    def say(self, line: str) -> None:
        """Put a line on the screen, keeping the last MAX_LINES."""
        self.lines = [*self.lines, line][-MAX_LINES:]


def _key(user_id: int) -> str:
    return f"admin:phone:{user_id}"


def load_state(user_id: int) -> PhoneState:
    """The user's simulated phone, or a fresh one."""
    raw = clients.redis().get(_key(user_id))
    if not raw:
        return PhoneState()
    return PhoneState(**json.loads(raw))


def save_state(user_id: int, state: PhoneState) -> None:
    """Keep the simulated phone for an hour."""
    clients.redis().set(_key(user_id), json.dumps(asdict(state)), ex=STATE_TTL_S)


def _post(public_url: str, params: dict[str, str]) -> tuple[int, bytes]:
    """POST to the app in-process, signed as Twilio signs it over the public URL."""
    config = current_app.config
    base = str(config["PUBLIC_BASE_URL"]).rstrip("/")
    parts = urlsplit(public_url)
    path = public_url[len(base) :] if public_url.startswith(base) else parts.path
    if not public_url.startswith(base) and parts.query:
        path += "?" + parts.query
    signature = twilio_signature(str(config["TWILIO_AUTH_TOKEN"]), public_url, params)
    response = current_app.test_client().post(
        path or "/", data=params, headers={"X-Twilio-Signature": signature}
    )
    return response.status_code, response.get_data()


def send_text(state: PhoneState, body: str) -> None:
    """Text the app from the phone; the reply (if any) lands on the screen."""
    config = current_app.config
    params = sms_params(
        str(config["TWILIO_ACCOUNT_SID"]),
        new_sid("SM"),
        body,
        state.phone,
        str(config["TWILIO_FROM_NUMBER"]),
    )
    state.say(f"> {body}")
    status, content = _post(str(config["PUBLIC_BASE_URL"]).rstrip("/") + "/sms", params)
    if status != 200:
        state.say(f"! /sms HTTP {status}")
        return
    replies = [node.text or "" for node in ET.fromstring(content).iter("Message")]
    for reply in replies:
        state.say(f"< {reply}")
    if not replies:
        state.say("< …")


def _call_params(state: PhoneState) -> dict[str, str]:
    config = current_app.config
    return call_params(
        str(config["TWILIO_ACCOUNT_SID"]),
        state.call_sid,
        state.phone,
        str(config["TWILIO_FROM_NUMBER"]),
    )


def dial(state: PhoneState, missed: bool = False) -> None:
    """Ring the hotline (or the callback number: a missed call) and play until input is due."""
    hang_up(state, quiet=True)
    state.call_sid = new_sid("CA")
    state.say("☎ " + ("missed call" if missed else "dial"))
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    _walk(state, base + ("/voice/callback" if missed else "/voice"), {"CallStatus": "ringing"})


def press(state: PhoneState, keys: str) -> None:
    """Answer the Gather the call waits at: keys sent to its action, none to its timeout path."""
    verbs = list(ET.fromstring(state.document)) if state.document else []
    if state.waiting_for != "Gather":
        state.say("! no question is waiting for keys")
        return
    gather = verbs[state.position]
    finish = gather.get("finishOnKey", "#")
    digits = keys[: keys.index(finish)] if finish and finish in keys else keys
    limit = gather.get("numDigits")
    if limit and limit.isdigit():
        digits = digits[: int(limit)]
    if not digits:
        state.say("(no key pressed)")
        _continue(state, verbs, state.position + 1)
        return
    state.say(f"[{digits}]")
    action = urljoin(state.document_url, gather.get("action") or state.document_url)
    _walk(state, action, {"Digits": digits, "CallStatus": "in-progress"})


def record(state: PhoneState, speak: bool = True) -> None:
    """Answer the Record the call waits at: a short recording, or silence."""
    verbs = list(ET.fromstring(state.document)) if state.document else []
    if state.waiting_for != "Record":
        state.say("! no recording is waiting")
        return
    if not speak:
        state.say("(silence)")
        _continue(state, verbs, state.position + 1)
        return
    verb = verbs[state.position]
    sid = new_sid("RE")
    sandbox = str(current_app.config["SANDBOX_URL"]).rstrip("/")
    state.say(f"(speaks {RECORDING_SECONDS} s)")
    action = urljoin(state.document_url, verb.get("action") or state.document_url)
    _walk(
        state,
        action,
        {
            "CallStatus": "in-progress",
            "RecordingUrl": f"{sandbox}/_sandbox/recordings/{sid}",
            "RecordingSid": sid,
            "RecordingDuration": str(RECORDING_SECONDS),
            "Digits": "#",
        },
    )


def hang_up(state: PhoneState, quiet: bool = False) -> None:
    """End the call and tell the app, as Twilio's status callback does."""
    if not state.call_sid:
        return
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    _post(
        base + "/voice/status",
        {**_call_params(state), "CallStatus": "completed", "CallDuration": "30"},
    )
    if not quiet:
        state.say("☎ hung up")
    state.call_sid, state.document, state.document_url, state.position = "", "", "", -1


def _walk(state: PhoneState, url: str, extra: dict[str, str]) -> None:
    """Fetch a document and act it out until the call waits for input or ends."""
    for _ in range(MAX_HOPS):
        status, content = _post(url, {**_call_params(state), **extra})
        if status != 200:
            state.say(f"! {urlsplit(url).path} HTTP {status}")
            hang_up(state)
            return
        state.document, state.document_url = content.decode("utf-8"), url
        next_url = _act(state, list(ET.fromstring(content)), 0)
        if next_url is None:
            return
        url, extra = next_url, {"CallStatus": "in-progress"}
    state.say("! the call loops")
    hang_up(state)


def _continue(state: PhoneState, verbs: list[ET.Element], start: int) -> None:
    next_url = _act(state, verbs, start)
    if next_url is not None:
        _walk(state, next_url, {"CallStatus": "in-progress"})


def _act(state: PhoneState, verbs: list[ET.Element], start: int) -> str | None:
    """Play verbs from `start`; return a URL to fetch next, or None (waiting, or ended)."""
    for index in range(start, len(verbs)):
        verb = verbs[index]
        if verb.tag in ("Say", "Play", "Pause"):
            _hear(state, verb)
        elif verb.tag == "Gather":
            for inner in verb:
                _hear(state, inner)
            state.position = index
            return None
        elif verb.tag == "Record":
            state.say(f"(beep: recording, up to {verb.get('maxLength', '3600')} s)")
            state.position = index
            return None
        elif verb.tag == "Redirect":
            return urljoin(state.document_url, (verb.text or "").strip())
        elif verb.tag in ("Hangup", "Reject"):
            reason = f" ({verb.get('reason')})" if verb.get("reason") else ""
            state.say(f"☎ <{verb.tag.lower()}>{reason}")
            hang_up(state, quiet=True)
            return None
    state.say("☎ the call ends")
    hang_up(state, quiet=True)
    return None


def _hear(state: PhoneState, verb: ET.Element) -> None:
    if verb.tag == "Say":
        state.say(f"🔊 {(verb.text or '').strip()}")
    elif verb.tag == "Play":
        state.say(f"🔊 [audio] {(verb.text or '').strip()}")


def sandbox_outbox(phone: str) -> list[dict[str, Any]] | None:
    """What the sandbox was asked to send to the phone, newest first (None: unreachable)."""
    url = str(current_app.config["SANDBOX_URL"]).rstrip("/") + "/_sandbox/messages"
    try:
        response = requests.get(
            url, params={"to": phone} if phone else None, timeout=OUTBOX_TIMEOUT_S
        )
        response.raise_for_status()
        rows = response.json()
    except (requests.RequestException, ValueError):
        return None
    return list(reversed(rows))[:50] if isinstance(rows, list) else None
