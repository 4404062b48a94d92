"""The sandbox's own endpoints under /_sandbox/: faults, the outbox, counts and test audio."""

from __future__ import annotations

import io
import math
import wave
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify, request

from devtools.sandbox.faults import parse_rule
from devtools.sandbox.rest import iso8601
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
