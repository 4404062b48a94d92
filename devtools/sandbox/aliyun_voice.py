"""Alibaba Cloud voice (dyvmsapi 2017-05-25) as the sandbox speaks it, with a member who answers.

The voice SDK posts to `/` like the SMS one (same ACS3 signature, checked by
devtools.sandbox.aliyun.dispatch); this module answers its actions: IvrCall (a TTS prompt, a
one-level key menu), SingleCallByVoice (an approved audio file), SingleCallByTts (a TTS
template), GetToken and QueryVoiceFileAuditInfo, and serves the file upload at
`/dyvms/upload?filename=...`.

Each call is stored, and a simulated member picks it up: by default after a moment, pressing 1
and staying on the line a few seconds. A script posted to `/_sandbox/aliyun/voice/members` says
what the member on a number does on the next call: press other keys, stay N seconds, not
answer, or let it ring until the phone simulator answers it (`flask phone call`). When the call
ends, its record (VoiceReport) is pushed to the app's `voice-report` feed through the same
pusher as the SMS receipts: in batches, sometimes twice (`repeat`), sometimes late
(`delay_ms`). Fault rules (devtools.sandbox.aliyun) refuse a call: over the per-number limit
(`over_cap`), prompt or file not approved, unknown number.

An uploaded file is in review until its approval time (`VOICE_REVIEW_SECONDS` after the
upload, or at once through `/_sandbox/aliyun/voice/files/<code>/approve`).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, request

from devtools.sandbox import aliyun
from devtools.sandbox.aliyun import ApiError, Faults, _json, _required, aliyun_number, beijing
from devtools.sandbox.state import SandboxState, sandbox_state

# What the member does when no script says otherwise: answers after RING_SECONDS, presses 1,
# and is on the line TALK_SECONDS in all.
RING_SECONDS = 0.3
TALK_SECONDS = 8
DEFAULT_KEYS = "1"
# How long Alibaba's review of an uploaded file takes here (Alibaba: about two hours).
VOICE_REVIEW_SECONDS = 2.0
MAX_FILE_BYTES = 2 * 1024 * 1024  # Alibaba: WAV or MP3, under 2 MB
LATE_REPEAT = aliyun.BATCH_WINDOW * 4
# Call result codes (呼叫结果状态码) the sandbox reports.
HEARD_ALL = "200000"  # the member heard the prompt to the end
HUNG_UP_EARLY = "200001"
NO_ANSWER = "200003"
BUSY = "200002"
STATUS_MESSAGES = {
    HEARD_ALL: "用户听完语音",
    HUNG_UP_EARLY: "用户提前挂机未完整收听",
    NO_ANSWER: "用户收到呼叫但未接听",
    BUSY: "用户占线",
}
_SCRIPT_KEYS = {
    "to": str,
    "keys": str,
    "seconds": int,
    "answer": bool,
    "busy": bool,
    "hold": bool,
    "push": bool,
    "repeat": bool,
    "delay_ms": int,
}

bp = Blueprint("sandbox_aliyun_voice", __name__)


# Actions at `/`


def _number(params: Mapping[str, str]) -> str:
    number = params["CalledNumber"].strip()
    if not aliyun.MAINLAND_MOBILE.match(number):
        raise ApiError("isv.MOBILE_NUMBER_ILLEGAL")
    return number


def _tts_approved(code: str) -> bool:
    # A TTS template Alibaba gave (TTS_...), or one the registry has not had approved yet and
    # sends under its own name (voice.<key>), as the SMS side takes unapproved templates.
    return code.startswith(("TTS_", "voice."))


def _file_state(state: SandboxState, voice_code: str) -> str | None:
    row = state.store.conn.execute(
        "SELECT state, approve_at FROM aliyun_voice_files WHERE voice_code = ?", (voice_code,)
    ).fetchone()
    if row is None:
        return None
    approve_at = row["approve_at"]
    if row["state"] == "in_review" and approve_at is not None and approve_at <= time.time():
        return "approved"
    return str(row["state"])


def _refuse(state: SandboxState, action: str, number: str, prompt: str) -> None:
    refusal = Faults(state.store, action, number, prompt).refusal(number)
    if refusal is not None:
        raise refusal


def ivr_call(state: SandboxState, params: dict[str, str], action: str) -> dict[str, Any]:
    """IvrCall: the start prompt, then the prompt MenuKeyMap maps to the key pressed."""
    _required(params, "CalledNumber", "CalledShowNumber", "StartCode")
    number = _number(params)
    start = params["StartCode"]
    menu = _menu(params)
    for code in (start, *menu.values()):
        if not _tts_approved(code) and _file_state(state, code) != "approved":
            raise ApiError("isv.TTS_TEMPLATE_ILLEGAL", f"模板不存在或未审核通过: {code}")
    _refuse(state, action, number, start)
    return _place(state, action, number, params, start, menu)


def single_call_by_voice(
    state: SandboxState, params: dict[str, str], action: str
) -> dict[str, Any]:
    """SingleCallByVoice: plays one approved audio file."""
    _required(params, "CalledNumber", "VoiceCode")
    number = _number(params)
    code = params["VoiceCode"]
    if _file_state(state, code) != "approved":
        raise ApiError("isv.VOICE_FILE_ILLEGAL", f"语音文件不存在或未审核通过: {code}")
    _refuse(state, action, number, code)
    return _place(state, action, number, params, code, {})


def single_call_by_tts(state: SandboxState, params: dict[str, str], action: str) -> dict[str, Any]:
    """SingleCallByTts: speaks one approved TTS template."""
    _required(params, "CalledNumber", "TtsCode")
    number = _number(params)
    code = params["TtsCode"]
    if not _tts_approved(code):
        raise ApiError("isv.TTS_TEMPLATE_ILLEGAL")
    _refuse(state, action, number, code)
    return _place(state, action, number, params, code, {})


def _menu(params: Mapping[str, str]) -> dict[str, str]:
    """MenuKeyMap as the SDK flattens it: MenuKeyMap.1.Key, MenuKeyMap.1.Code, ..."""
    menu: dict[str, str] = {}
    index = 1
    while f"MenuKeyMap.{index}.Key" in params:
        menu[params[f"MenuKeyMap.{index}.Key"]] = params.get(f"MenuKeyMap.{index}.Code", "")
        index += 1
    return menu


def _place(
    state: SandboxState,
    action: str,
    number: str,
    params: Mapping[str, str],
    prompt: str,
    menu: Mapping[str, str],
) -> dict[str, Any]:
    call_id = f"{secrets.randbelow(10**12):012d}^{secrets.randbelow(10**12):012d}"
    now = time.time()
    state.store.conn.execute(
        "INSERT INTO aliyun_calls (call_id, action, called_number, show_number, prompt, menu, "
        "out_id, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'ringing', ?)",
        (
            call_id,
            action,
            number,
            params.get("CalledShowNumber", ""),
            prompt,
            json.dumps(menu),
            params.get("OutId") or None,
            now,
        ),
    )
    script = _take_script(state, number)
    if not script.get("hold"):
        delay = RING_SECONDS + (script.get("delay_ms") or 0) / 1000
        _end(state, call_id, script, delay=delay)
    return {"Code": "OK", "Message": "OK", "CallId": call_id}


def get_token(state: SandboxState, params: dict[str, str], action: str) -> dict[str, Any]:
    """GetToken: a token the upload takes for half an hour."""
    return {"Code": "OK", "Message": "OK", "Success": True, "Token": _token(state)}


def _token(state: SandboxState) -> str:
    # The token proves the AccessKey signed a GetToken: derived from the secret, per half hour.
    window = int(time.time() // 1800)
    return aliyun.sign(f"dyvms-token\n{window}", state.aliyun_access_key_secret)


def query_voice_file_audit_info(
    state: SandboxState, params: dict[str, str], action: str
) -> dict[str, Any]:
    """QueryVoiceFileAuditInfo: up to 10 comma-separated codes and their review state."""
    _required(params, "VoiceCodes")
    codes = [code.strip() for code in params["VoiceCodes"].split(",") if code.strip()]
    if len(codes) > 10:
        raise ApiError("isv.INVALID_PARAMETERS", "at most 10 VoiceCodes")
    data = []
    for code in codes:
        found = _file_state(state, code)
        if found is None:
            continue
        audit = {
            "approved": "AUDIT_STATE_PASS",
            "rejected": "AUDIT_STATE_NOT_PASS",
        }.get(found, "AUDIT_STATE_INIT")
        item = {"VoiceCode": code, "AuditState": audit}
        if found == "rejected":
            item["RejectInfo"] = "音频内容不清晰"
        data.append(item)
    return {"Code": "OK", "Message": "OK", "Data": data}


HANDLERS = {
    "IvrCall": ivr_call,
    "SingleCallByVoice": single_call_by_voice,
    "SingleCallByTts": single_call_by_tts,
    "GetToken": get_token,
    "QueryVoiceFileAuditInfo": query_voice_file_audit_info,
}


@bp.post("/dyvms/upload")
def upload() -> tuple[Response, int] | Response:
    """The upload address: the token in `authorization`, the file as the body."""
    state = sandbox_state()
    token = request.headers.get("authorization") or ""
    filename = request.args.get("filename") or ""
    content = request.get_data(cache=False)
    if not secrets.compare_digest(token, _token(state)):
        return _json({"code": "isv.TOKEN_ILLEGAL", "msg": "token invalid or expired"}), 403
    if not filename.lower().endswith((".wav", ".mp3")):
        return _json({"code": "isv.INVALID_PARAMETERS", "msg": "WAV or MP3 only"}), 400
    if not content or len(content) > MAX_FILE_BYTES:
        return _json({"code": "isv.INVALID_PARAMETERS", "msg": "empty or over 2 MB"}), 400
    voice_code = f"{uuid.uuid4()}.{filename.rsplit('.', 1)[1].lower()}"
    now = time.time()
    state.store.conn.execute(
        "INSERT INTO aliyun_voice_files (voice_code, filename, size, state, approve_at, "
        "created_at) VALUES (?, ?, ?, 'in_review', ?, ?)",
        (voice_code, filename, len(content), now + VOICE_REVIEW_SECONDS, now),
    )
    return _json({"code": "OK", "msg": "success", "data": {"voiceCode": voice_code}})


# The simulated member


def _take_script(state: SandboxState, number: str) -> dict[str, Any]:
    """The oldest script for this number, used up by this call; {} when there is none."""
    conn = state.store.conn
    row = conn.execute(
        "SELECT id, script FROM aliyun_voice_scripts WHERE called_number = ? ORDER BY id LIMIT 1",
        (number,),
    ).fetchone()
    if row is None:
        return {}
    if conn.execute("DELETE FROM aliyun_voice_scripts WHERE id = ?", (row["id"],)).rowcount != 1:
        return {}  # another thread took it
    script: dict[str, Any] = json.loads(row["script"])
    return script


def _end(state: SandboxState, call_id: str, script: Mapping[str, Any], *, delay: float) -> None:
    """End a ringing call as the script says, and queue its record for the app."""
    conn = state.store.conn
    row = conn.execute("SELECT * FROM aliyun_calls WHERE call_id = ?", (call_id,)).fetchone()
    if row is None or row["state"] != "ringing":
        return
    answered = script.get("answer", True) and not script.get("busy")
    keys = str(script.get("keys", DEFAULT_KEYS)) if answered else ""
    seconds = int(script.get("seconds", TALK_SECONDS)) if answered else 0
    menu = json.loads(row["menu"])
    heard = [row["prompt"]] if answered else []
    key = next((k for k in keys if k in menu), None)
    if key is not None:
        heard.append(menu[key])
    if not answered:
        code = BUSY if script.get("busy") else NO_ANSWER
    else:
        code = HUNG_UP_EARLY if "seconds" in script and seconds < TALK_SECONDS else HEARD_ALL
    ended = time.time() + delay
    updated = conn.execute(
        "UPDATE aliyun_calls SET state = 'ended', status_code = ?, keys = ?, duration = ?, "
        "heard = ?, ended_at = ? WHERE call_id = ? AND state = 'ringing'",
        (code, keys, seconds, json.dumps(heard), ended, call_id),
    )
    if updated.rowcount != 1:
        return
    report = {
        "call_id": call_id,
        "start_time": beijing(ended - seconds) if answered else "",
        "end_time": beijing(ended) if answered else "",
        "duration": str(seconds),
        "status_code": code,
        "smart_status_code": "ANSWERED" if answered else "NO_ANSWER",
        "status_msg": STATUS_MESSAGES[code],
        "out_id": row["out_id"] or "",
        "caller": row["show_number"],
        "callee": row["called_number"],
        "dtmf": keys,
        "hangup_direction": "用户",
        "originate_time": beijing(row["created_at"]),
        "ring_time": beijing(row["created_at"]),
        "voice_type": "voice",
    }
    pusher = aliyun.current_pusher()
    push = script.get("push", True)
    pusher.voice_report(report, delay=delay, push=push)
    if push and script.get("repeat"):
        pusher.voice_report(report, delay=delay + LATE_REPEAT, push=True)


def parse_script(payload: Any) -> dict[str, Any]:
    """Check a script posted to /_sandbox/aliyun/voice/members; ValueError saying what is wrong."""
    if not isinstance(payload, dict) or not isinstance(payload.get("to"), str):
        raise ValueError("a script is a JSON object with the number `to`")
    for key, value in payload.items():
        kind = _SCRIPT_KEYS.get(key)
        if kind is None:
            raise ValueError(f"unknown script key: {key}")
        negative = isinstance(value, int) and value < 0
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or negative)):
            raise ValueError(f"{key} must be a {kind.__name__}")
    return dict(payload)


def call_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored call as the control endpoints list it."""
    return {
        "call_id": row["call_id"],
        "action": row["action"],
        "to": row["called_number"],
        "show_number": row["show_number"],
        "prompt": row["prompt"],
        "menu": json.loads(row["menu"]),
        "out_id": row["out_id"],
        "state": row["state"],
        "status_code": row["status_code"],
        "keys": row["keys"],
        "duration": row["duration"],
        "heard": json.loads(row["heard"]),
    }


# Control endpoints under /_sandbox/aliyun/voice/


@bp.get("/_sandbox/aliyun/voice/calls")
def list_calls() -> Response:
    """Calls placed through the voice API (optionally ?to=), oldest first."""
    to = request.args.get("to")
    conn = sandbox_state().store.conn
    if to:
        rows = conn.execute(
            "SELECT * FROM aliyun_calls WHERE called_number = ? ORDER BY id", (aliyun_number(to),)
        )
    else:
        rows = conn.execute("SELECT * FROM aliyun_calls ORDER BY id")
    return _json([call_row(row) for row in rows])


@bp.post("/_sandbox/aliyun/voice/members")
def add_script() -> tuple[Response, int]:
    """What the member on `to` does on the next call: `keys`, `seconds`, `answer`, `busy`,
    `hold` (ring until answered here), `push`, `repeat`, `delay_ms`."""
    try:
        script = parse_script(request.get_json(silent=True))
    except ValueError as exc:
        return _json({"error": str(exc)}), 400
    number = aliyun_number(script.pop("to"))
    sandbox_state().store.conn.execute(
        "INSERT INTO aliyun_voice_scripts (called_number, script) VALUES (?, ?)",
        (number, json.dumps(script)),
    )
    return _json({"to": number, **script}), 201


@bp.post("/_sandbox/aliyun/voice/answer")
def answer_call() -> tuple[Response, int]:
    """The phone answers the newest ringing call to `to`: `{"to": ..., "keys": "1",
    "seconds": 10}` (or `"answer": false`); the call's record is pushed at once."""
    payload = request.get_json(silent=True) or {}
    try:
        script = parse_script(payload)
    except ValueError as exc:
        return _json({"error": str(exc)}), 400
    state = sandbox_state()
    number = aliyun_number(script.pop("to"))
    row = state.store.conn.execute(
        "SELECT call_id FROM aliyun_calls WHERE called_number = ? AND state = 'ringing' "
        "ORDER BY id DESC LIMIT 1",
        (number,),
    ).fetchone()
    if row is None:
        return _json({"error": f"no call is ringing at {number}"}), 404
    _end(state, row["call_id"], script, delay=0.0)
    found = state.store.conn.execute(
        "SELECT * FROM aliyun_calls WHERE call_id = ?", (row["call_id"],)
    ).fetchone()
    return _json(call_row(found)), 200


@bp.post("/_sandbox/aliyun/voice/files/<path:voice_code>/<any(approve, reject):verdict>")
def review_file(voice_code: str, verdict: str) -> tuple[Response, int]:
    """Finish the review of an uploaded file now."""
    state = "approved" if verdict == "approve" else "rejected"
    changed = sandbox_state().store.conn.execute(
        "UPDATE aliyun_voice_files SET state = ?, approve_at = NULL WHERE voice_code = ?",
        (state, voice_code),
    )
    if changed.rowcount != 1:
        return _json({"error": "no such file"}), 404
    return _json({"voice_code": voice_code, "state": state}), 200


@bp.get("/_sandbox/aliyun/voice/files")
def list_files() -> Response:
    """Uploaded files with their review state."""
    state = sandbox_state()
    rows = state.store.conn.execute("SELECT voice_code, filename, size FROM aliyun_voice_files")
    return _json([{**dict(row), "state": _file_state(state, row["voice_code"])} for row in rows])


@bp.delete("/_sandbox/aliyun/voice/<any(calls, members, files):kind>")
def clear(kind: str) -> Response:
    """Forget every call, member script or uploaded file of the voice side."""
    table = {
        "calls": "aliyun_calls",
        "members": "aliyun_voice_scripts",
        "files": "aliyun_voice_files",
    }[kind]
    return _json({"cleared": sandbox_state().store.clear_aliyun(table)})


def init_app(app: Flask) -> None:
    """Answer the voice actions at `/` and serve the upload and the control endpoints."""
    aliyun.register_actions(HANDLERS)
    app.register_blueprint(bp)


__all__ = ["HANDLERS", "bp", "init_app", "parse_script"]
