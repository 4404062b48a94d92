"""Tencent Cloud voice messages (VMS, API 2020-09-02) as the sandbox speaks them.

`SendTtsVoice` reaches devtools.sandbox.tencent's `api()` like every Tencent call (the same
TC3-HMAC-SHA256 check, scoped to the `vms` service) and is answered here: the call is kept in
`tencent_calls` and the member it rings is simulated. What a number does on its next calls is
scripted (POST /_sandbox/tencent/voice/scripts); with no script the member answers, listens
20 seconds and presses 1. The outcome is pushed to the app's `voice-status` address as Tencent
pushes it, one object a push: the key press (`voicekey_callback`), the call's status
(`voiceprompt_callback`) and, for a call nobody answered, the reason (`voice_failure_callback`).

A script: `{"to"?, "count"?, "action", "keys"?, "seconds"?, "code"?, "twice"?, "delay_ms"?,
"key_after_status"?}`. `action` is `answer` (press `keys`, stay `seconds`), `no_answer`,
`ring` (the call waits for POST /_sandbox/tencent/voice/answer, which `flask phone call`
sends) or `refuse` (SendTtsVoice answers Tencent's error `code`, e.g.
LimitExceeded.DeliveryFrequencyLimit). `twice` pushes every item twice, `delay_ms` waits before
pushing, `key_after_status` pushes the key press after the status instead of before.
Templates in the settings' `unapproved_templates` are refused, and so is a number that is not
a mainland mobile.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from devtools.sandbox import tencent
from devtools.sandbox.callbacks import CallbackDispatcher
from devtools.sandbox.state import sandbox_state
from devtools.sandbox.store import SandboxStore

API_VERSION = "2020-09-02"
SERVICE = "vms"
FEED = "voice-status"
DEFAULT_SCRIPT: dict[str, Any] = {"action": "answer", "keys": "1", "seconds": 20}
ACTIONS_SCRIPTED = ("answer", "no_answer", "ring", "refuse")
NO_ANSWER_CODE = 5  # failure_code 5: 无人接听
MESSAGES = {
    "LimitExceeded.DeliveryFrequencyLimit": "the number was called too often",
    "FailedOperation.TemplateIncorrectOrUnapproved": "template is not approved or does not match",
    "InvalidParameterValue.CalledNumberVerifyFail": "the called number is not valid",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS tencent_calls (
    id INTEGER PRIMARY KEY,
    call_id TEXT UNIQUE,
    sdk_app_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    template_id TEXT NOT NULL,
    params TEXT NOT NULL,
    play_times INTEGER,
    session_context TEXT,
    code TEXT NOT NULL,
    state TEXT NOT NULL,
    keys TEXT NOT NULL DEFAULT '',
    seconds INTEGER,
    script TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tencent_voice_scripts (
    id INTEGER PRIMARY KEY,
    phone TEXT,
    script TEXT NOT NULL,
    remaining INTEGER
);
"""
TABLES = ("tencent_calls", "tencent_voice_scripts")

bp = Blueprint("sandbox_tencent_voice", __name__, url_prefix="/_sandbox/tencent/voice")


def init_app(app: Flask, store: SandboxStore) -> None:
    """Answer VMS's SendTtsVoice and serve /_sandbox/tencent/voice/."""
    conn = sqlite3.connect(store.db_path, timeout=30.0)
    try:
        conn.executescript(SCHEMA)
    finally:
        conn.close()
    tencent.SERVICES[API_VERSION] = (SERVICE, {"SendTtsVoice": send_tts_voice})
    for table in TABLES:
        if table not in tencent._TABLES:
            tencent._TABLES.append(table)  # DELETE /_sandbox/tencent forgets calls too
    app.register_blueprint(bp)


# The API


def send_tts_voice(params: dict[str, Any]) -> dict[str, Any]:
    """SendTtsVoice: refuse as scripted, else keep the call and act out the member."""
    state = sandbox_state()
    store = state.store
    template_id = str(params.get("TemplateId") or "")
    app_id = str(params.get("VoiceSdkAppid") or "")
    raw_number = str(params.get("CalledNumber") or "")
    if not template_id or not app_id or not raw_number:
        raise tencent.ApiError(
            "MissingParameter", "TemplateId, CalledNumber and VoiceSdkAppid are required"
        )
    phone, bad_number = tencent._number(raw_number)
    if bad_number is not None or not raw_number.startswith("+"):
        raise tencent.ApiError(
            "InvalidParameterValue.CalledNumberVerifyFail",
            MESSAGES["InvalidParameterValue.CalledNumberVerifyFail"],
        )
    if template_id in tencent.load_settings(store)["unapproved_templates"]:
        raise tencent.ApiError(
            "FailedOperation.TemplateIncorrectOrUnapproved",
            MESSAGES["FailedOperation.TemplateIncorrectOrUnapproved"],
        )
    script = next_script(store, phone)
    if script["action"] == "refuse":
        code = str(script.get("code") or "LimitExceeded.DeliveryFrequencyLimit")
        raise tencent.ApiError(code, MESSAGES.get(code, code))
    call_id = str(uuid.uuid4())
    context = str(params.get("SessionContext") or "")
    store.conn.execute(
        "INSERT INTO tencent_calls (call_id, sdk_app_id, phone, template_id, params, play_times, "
        "session_context, code, state, script, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'Ok', 'ringing', ?, ?)",
        (
            call_id,
            app_id,
            phone,
            template_id,
            json.dumps([str(v) for v in params.get("TemplateParamSet") or []], ensure_ascii=False),
            params.get("PlayTimes"),
            context,
            json.dumps(script),
            time.time(),
        ),
    )
    if script["action"] != "ring":
        act_out(call_id, script)
    return {"SendStatus": {"CallId": call_id, "SessionContext": context}}


def next_script(store: SandboxStore, phone: str) -> dict[str, Any]:
    """What this number does on this call: the oldest script for it (or for any number) with
    a count left, used once; else the default (answers and presses 1)."""
    rows = store.conn.execute(
        "SELECT * FROM tencent_voice_scripts WHERE (phone IS NULL OR phone = ?) "
        "AND (remaining IS NULL OR remaining > 0) ORDER BY phone IS NULL, id",
        (phone,),
    ).fetchall()
    for row in rows:
        if row["remaining"] is None:
            return dict(json.loads(row["script"]))
        used = store.conn.execute(
            "UPDATE tencent_voice_scripts SET remaining = remaining - 1 "
            "WHERE id = ? AND remaining > 0",
            (row["id"],),
        ).rowcount
        if used:
            return dict(json.loads(row["script"]))
    return dict(DEFAULT_SCRIPT)


def act_out(call_id: str, script: dict[str, Any]) -> None:
    """The member's side of a call: record how it went, then push what Tencent would."""
    state = sandbox_state()
    store = state.store
    row = store.conn.execute("SELECT * FROM tencent_calls WHERE call_id = ?", (call_id,)).fetchone()
    answered = script["action"] == "answer"
    keys = str(script.get("keys") or "") if answered else ""
    seconds = int(script.get("seconds") or 0) if answered else 0
    store.conn.execute(
        "UPDATE tencent_calls SET state = ?, keys = ?, seconds = ? WHERE call_id = ?",
        ("answered" if answered else "no-answer", keys, seconds, call_id),
    )
    items = pushed_items(row["phone"], call_id, keys, seconds, answered, time.time())
    if script.get("key_after_status"):
        items = [i for i in items if "voicekey_callback" not in i] + [
            i for i in items if "voicekey_callback" in i
        ]
    url = state.push_url("tencent", FEED)
    if url is None:
        return
    settings = tencent.load_settings(store)
    delay = int(script.get("delay_ms", settings["push_delay_ms"])) / 1000
    twice = bool(script.get("twice", settings["push_twice"]))

    def push_all(dispatcher: CallbackDispatcher) -> None:
        time.sleep(delay)
        for item in items:
            for _ in range(2 if twice else 1):
                tencent.push(store, FEED, url, item)

    state.dispatcher.submit(push_all)


def pushed_items(
    phone: str, call_id: str, keys: str, seconds: int, answered: bool, now: float
) -> list[dict[str, Any]]:
    """What Tencent pushes for one call, in the order it would: each key press as it is
    pressed, then the call's status, then (nobody answered) the failure's reason."""
    mobile = phone.removeprefix("+86")
    base = {"call_from": "", "callid": call_id, "mobile": mobile, "nationcode": "86"}
    items: list[dict[str, Any]] = [{"voicekey_callback": {**base, "keypress": key}} for key in keys]
    end = int(now)
    accept = end - seconds if answered else 0
    items.append(
        {
            "voiceprompt_callback": {
                **base,
                "result": "0" if answered else "1",
                "accept_time": str(accept),
                "start_calltime": str((accept or end) - 5),
                "end_calltime": str(end),
                "fee": str((seconds + 59) // 60) if answered else "0",
            }
        }
    )
    if not answered:
        items.append(
            {
                "voice_failure_callback": {
                    **base,
                    "failure_code": NO_ANSWER_CODE,
                    "failure_reason": "无人接听",
                }
            }
        )
    return items


# The control endpoints


def _call_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "call_id": row["call_id"],
        "sdk_app_id": row["sdk_app_id"],
        "to": row["phone"],
        "template_id": row["template_id"],
        "params": json.loads(row["params"]),
        "play_times": row["play_times"],
        "session_context": row["session_context"],
        "state": row["state"],
        "keys": row["keys"],
        "seconds": row["seconds"],
        "created_at": datetime.fromtimestamp(row["created_at"], UTC).isoformat(),
    }


@bp.get("/calls")
def list_calls() -> Response:
    """Every call SendTtsVoice took, optionally only those to ?to=, oldest first."""
    conn = sandbox_state().store.conn
    to = request.args.get("to")
    rows = (
        conn.execute("SELECT * FROM tencent_calls WHERE phone = ? ORDER BY id", (to,))
        if to
        else conn.execute("SELECT * FROM tencent_calls ORDER BY id")
    )
    return jsonify([_call_json(row) for row in rows])


def parse_script(payload: Any) -> dict[str, Any]:
    """Check a posted script; ValueError saying what is wrong."""
    if not isinstance(payload, dict):
        raise ValueError("a script is a JSON object")
    known = {"to", "count", "action", "keys", "seconds", "code", "twice", "delay_ms"}
    unknown = set(payload) - known - {"key_after_status"}
    if unknown:
        raise ValueError(f"unknown script keys: {', '.join(sorted(unknown))}")
    if payload.get("action") not in ACTIONS_SCRIPTED:
        raise ValueError("action is one of " + ", ".join(ACTIONS_SCRIPTED))
    for key in ("count", "seconds", "delay_ms"):
        value = payload.get(key)
        if value is not None and (type(value) is not int or value < 0):
            raise ValueError(f"{key} must be a whole number")
    for key in ("to", "keys", "code"):
        if key in payload and not isinstance(payload[key], str):
            raise ValueError(f"{key} must be a string")
    return dict(payload)


@bp.post("/scripts")
def add_script() -> tuple[Response, int]:
    """Script what a number (or any number) does on its next calls; 400 says what is wrong."""
    try:
        script = parse_script(request.get_json(silent=True))
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    phone = None
    if script.get("to"):
        phone, bad = tencent._number(str(script["to"]))
        if bad is not None:
            return jsonify({"error": "to is not a mainland mobile number"}), 400
    acts = {k: v for k, v in script.items() if k not in ("to", "count")}
    cursor = sandbox_state().store.conn.execute(
        "INSERT INTO tencent_voice_scripts (phone, script, remaining) VALUES (?, ?, ?)",
        (phone, json.dumps(acts), script.get("count")),
    )
    return jsonify({"id": cursor.lastrowid, "to": phone, "script": acts}), 201


@bp.post("/answer")
def answer_call() -> tuple[Response, int]:
    """The member picks up the newest ringing call to `to`, presses `keys` and stays `seconds`
    (default 20); the pushes follow as for any call. 404 when no call rings for that number."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"error": "a JSON object with to, keys and seconds"}), 400
    phone, bad = tencent._number(str(payload.get("to") or ""))
    keys = payload.get("keys", "")
    seconds = payload.get("seconds", DEFAULT_SCRIPT["seconds"])
    if bad is not None or not isinstance(keys, str) or type(seconds) is not int or seconds < 0:
        return jsonify({"error": "to is a mainland mobile, keys a string, seconds a number"}), 400
    conn = sandbox_state().store.conn
    row = conn.execute(
        "SELECT * FROM tencent_calls WHERE phone = ? AND state = 'ringing' ORDER BY id DESC",
        (phone,),
    ).fetchone()
    if row is None:
        return jsonify({"error": f"no call is ringing for {phone}"}), 404
    script = {**json.loads(row["script"]), "action": "answer", "keys": keys, "seconds": seconds}
    act_out(row["call_id"], script)
    answered = conn.execute(
        "SELECT * FROM tencent_calls WHERE call_id = ?", (row["call_id"],)
    ).fetchone()
    return jsonify(_call_json(answered)), 200


__all__ = ["API_VERSION", "bp", "init_app", "pushed_items", "send_tts_voice"]
