"""The sandbox's own endpoints under /_sandbox/: faults, the outbox, counts and test audio."""

from __future__ import annotations

import io
import math
import wave
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify, request

from devtools.sandbox.faults import parse_rule
from devtools.sandbox.rest import E164, iso8601, new_sid, segments
from devtools.sandbox.state import sandbox_state

WAV_RATE = 8000
TONE_HZ = 440.0
# Quiet enough to be a soft tone, loud enough to prove playback works.
TONE_AMPLITUDE = 3000

bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


@bp.get("/health")
def health() -> Response:
    """Say the sandbox is up."""
    return jsonify({"ok": True})


@bp.post("/faults")
def add_fault() -> tuple[Response, int]:
    """Add a fault rule (see devtools.sandbox.faults); 400 says what is wrong with it."""
    try:
        rule = parse_rule(request.get_json(silent=True))
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    fault_id = sandbox_state().store.add_fault(rule)
    return jsonify({"id": fault_id, "rule": rule}), 201


@bp.get("/faults")
def list_faults() -> Response:
    """Every fault rule and how many uses it has left (null: until cleared)."""
    return jsonify(sandbox_state().store.list_faults())


@bp.delete("/faults")
def clear_faults() -> Response:
    """Drop every fault rule: the sandbox behaves again."""
    return jsonify({"cleared": sandbox_state().store.clear_faults()})


@bp.get("/messages")
def outbox_messages() -> Response:
    """Messages sent, optionally only those to ?to=, oldest first."""
    rows = sandbox_state().store.outbox("messages", request.args.get("to"))
    return jsonify([outbox_message(row) for row in rows])


@bp.delete("/messages")
def clear_messages() -> Response:
    """Forget every message."""
    return jsonify({"cleared": sandbox_state().store.clear("messages")})


@bp.get("/calls")
def outbox_calls() -> Response:
    """Calls placed, optionally only those to ?to=, oldest first."""
    rows = sandbox_state().store.outbox("calls", request.args.get("to"))
    return jsonify([outbox_call(row) for row in rows])


@bp.delete("/calls")
def clear_calls() -> Response:
    """Forget every call."""
    return jsonify({"cleared": sandbox_state().store.clear("calls")})


@bp.get("/callbacks")
def list_callbacks() -> Response:
    """How each callback ended (delivered or dropped), optionally for one ?sid=."""
    rows = sandbox_state().store.list_callbacks(request.args.get("sid"))
    for row in rows:
        row["created_at"] = iso8601(row["created_at"])
    return jsonify(rows)


@bp.delete("/callbacks")
def clear_callbacks() -> Response:
    """Forget every callback record."""
    return jsonify({"cleared": sandbox_state().store.clear("callbacks")})


@bp.get("/count")
def count() -> Response:
    """How many messages and calls the sandbox holds."""
    return jsonify(sandbox_state().store.counts())


@bp.get("/pace")
def get_pace() -> Response:
    """The pace in force: segments a second (0: none) and how many may come at once."""
    rate, burst = sandbox_state().store.pace()
    return jsonify({"segments_per_s": rate, "burst": burst})


@bp.put("/pace")
def put_pace() -> tuple[Response, int]:
    """Set the pace (`{"segments_per_s": 200, "burst": 100}`; 0 turns it off): a message over
    it is refused with 429 / 20429, as Twilio refuses a sender that goes too fast."""
    payload = request.get_json(silent=True)
    try:
        rate, burst = parse_pace(payload)
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    sandbox_state().store.set_pace(rate, burst)
    return jsonify({"segments_per_s": rate, "burst": burst}), 200


def parse_pace(payload: Any) -> tuple[float, float]:
    """Check a pace; the burst defaults to half a second's worth (at least one segment)."""
    if not isinstance(payload, dict) or "segments_per_s" not in payload:
        raise ValueError("a pace is a JSON object with segments_per_s")
    unknown = set(payload) - {"segments_per_s", "burst"}
    if unknown:
        raise ValueError(f"unknown pace keys: {', '.join(sorted(unknown))}")
    rate = payload["segments_per_s"]
    if not _number(rate) or rate < 0:
        raise ValueError("segments_per_s must be a number, 0 or more")
    burst = payload.get("burst", default_burst(rate))
    if not _number(burst) or burst < 1:
        raise ValueError("burst must be a number, 1 or more")
    return float(rate), float(burst)


def default_burst(rate: float) -> float:
    """Half a second of the pace, so requests paced exactly but bunched on the way still pass."""
    return max(1.0, rate / 2)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@bp.post("/inbound/sms")
def inbound_sms() -> tuple[Response, int]:
    """A member texts in: post the signed webhook Twilio would to `url` (the app's /sms).

    Body: `{"from": "+86...", "to": "+86...", "body": "HB 1", "url": "http://app/sms"}`. The
    answer says whether the app took it (retried twice, as callbacks are) and the TwiML it
    answered; every attempt is kept with the callbacks (kind `inbound-sms`).
    """
    payload = request.get_json(silent=True)
    try:
        sender, to, body, url = parse_inbound(payload)
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    state = sandbox_state()
    sid = new_sid("SM")
    params = {
        "AccountSid": state.account_sid or "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": sender,
        "To": to,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "NumSegments": str(segments(body)),
        "SmsStatus": "received",
    }
    delivery = state.dispatcher.post(sid, "inbound-sms", url, params)
    answer = {"sid": sid, "delivered": delivery.delivered, "http_status": delivery.http_status}
    return jsonify({**answer, "reply": delivery.body}), 200 if delivery.delivered else 502


def parse_inbound(payload: Any) -> tuple[str, str, str, str]:
    """Check an inbound text's fields; raise ValueError saying what is wrong."""
    if not isinstance(payload, dict):
        raise ValueError("an inbound text is a JSON object with from, to, body and url")
    fields = []
    for key in ("from", "to", "body", "url"):
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key} must be a non-empty string")
        fields.append(value)
    sender, to, body, url = fields
    if not E164.match(sender) or not E164.match(to):
        raise ValueError("from and to must be E.164 numbers (+8613800138000)")
    if not url.startswith(("http://", "https://")):
        raise ValueError("url must be an http(s) URL")
    return sender, to, body, url


@bp.get("/recordings/<name>.wav")
def recording(name: str) -> Response:
    """A one-second soft tone, whatever the name, so recordings play offline."""
    return Response(tone_wav(), mimetype="audio/wav")


def outbox_message(row: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the outbox shows it."""
    return {
        "sid": row["sid"],
        "to": row["to_number"],
        "from": row["from_number"],
        "body": row["body"],
        "status": row["status"],
        "error_code": row["error_code"],
        "num_segments": row["num_segments"],
        "status_callback": row["status_callback"],
        "created_at": iso8601(row["created_at"]),
        "updated_at": iso8601(row["updated_at"]),
    }


def outbox_call(row: dict[str, Any]) -> dict[str, Any]:
    """A stored call as the outbox shows it, with the TwiML the app answered."""
    return {
        "sid": row["sid"],
        "to": row["to_number"],
        "from": row["from_number"],
        "url": row["url"],
        "status": row["status"],
        "answered_by": row["answered_by"],
        "duration": row["duration"],
        "machine_detection": row["machine_detection"],
        "status_callback": row["status_callback"],
        "status_callback_events": row["status_callback_events"].split(),
        "twiml": row["twiml"] if row["twiml"] is not None else row["twiml_param"],
        "url_status": row["url_status"],
        "created_at": iso8601(row["created_at"]),
        "updated_at": iso8601(row["updated_at"]),
    }


@cache
def tone_wav() -> bytes:
    """One second of a 440 Hz tone, 8 kHz mono 16-bit PCM, faded in and out to avoid clicks."""
    frames = bytearray()
    fade = WAV_RATE // 20
    for index in range(WAV_RATE):
        envelope = min(1.0, index / fade, (WAV_RATE - 1 - index) / fade)
        sample = int(TONE_AMPLITUDE * envelope * math.sin(2 * math.pi * TONE_HZ * index / WAV_RATE))
        frames += sample.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(WAV_RATE)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


__all__ = ["bp", "tone_wav"]
