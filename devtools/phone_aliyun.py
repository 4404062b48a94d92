"""`flask phone call` under PROVIDER=aliyun: the member answers a call Alibaba places.

Alibaba Cloud voice calls out only, and nobody rings into a menu of ours: so the phone does
not dial, it answers. `--hold` makes the sandbox let the next call to a number ring instead of
answering it itself; the command then answers the newest ringing call, presses the keys, and
the sandbox pushes the call's record (VoiceReport) to the app, which saves what the key says.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click
import requests
from flask import current_app
from sqlalchemy import select

from infra.db import get_session
from models import Call, Report
from models.call import CALL_FINAL
from models.sms_templates import ALIYUN, registry

TIMEOUT = 20.0
# How long to wait for the app to apply the pushed record.
SAVED_WITHIN = 10.0


def _sandbox() -> str:
    return str(current_app.config["ALIYUN_VOICE_ENDPOINT"]).rstrip("/")


def _post(path: str, payload: dict[str, Any]) -> requests.Response:
    url = f"{_sandbox()}/_sandbox/aliyun/voice/{path}"
    try:
        return requests.post(url, json=payload, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach the sandbox at {url}: {exc}") from exc


def hold_calls(number: str) -> None:
    """Let the next call to `number` ring until `flask phone call` answers it."""
    response = _post("members", {"to": number, "hold": True})
    if response.status_code != 201:
        raise click.ClickException(f"the sandbox refused: {response.text}")
    click.echo(f"the next call to {number} rings until `flask phone call {number}` answers it")


def heard(code: str) -> str:
    """What a prompt or file code plays, as the member hears it."""
    for prompt in registry().voice.values():
        if prompt.provider == ALIYUN and code in (prompt.code, f"voice.{prompt.key}"):
            return f"say: {prompt.text}"
    return f"play: audio file {code}"


def answer_call(number: str, presses: Sequence[str]) -> None:
    """Answer the newest ringing call to `number`, press the keys, print what was heard and
    what the app saved once the record was pushed."""
    keys = "".join(presses)
    response = _post("answer", {"to": number, "keys": keys})
    if response.status_code == 404:
        raise click.ClickException(
            f"no call is ringing at {number}: the sandbox answers calls itself unless "
            f"`flask phone call {number} --hold` was run before the call was placed"
        )
    if response.status_code != 200:
        raise click.ClickException(f"the sandbox refused: {response.text}")
    call: dict[str, Any] = response.json()
    click.echo(f"< {call['action']} from {call['show_number']} (call {call['call_id']})")
    codes = list(call["heard"])
    if codes:
        click.echo(f"  {heard(codes[0])}")
    if keys:
        click.echo(f"  press {keys}")
    for code in codes[1:]:
        click.echo(f"  {heard(code)}")
    click.echo(f"  (hangs up after {call['duration']} s)")
    _print_saved(call.get("out_id"))


def _print_saved(out_id: str | None) -> None:
    """Wait for the app to apply the pushed record; print the call and any report it saved."""
    if not out_id or not out_id.isdigit():
        click.echo("saved: nothing (the call carries no id of ours)")
        return
    session = get_session()
    deadline = time.monotonic() + SAVED_WITHIN
    while True:
        session.expire_all()
        row = session.get(Call, int(out_id))
        if row is None or row.status in CALL_FINAL or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if row is None:
        click.echo(f"saved: nothing (no call {out_id} in the app's database)")
        return
    click.echo(f"saved: call {row.id} {row.status.value}, {row.duration or 0} s")
    if row.member_id is None:
        return
    report = session.scalar(
        select(Report)
        .where(Report.member_id == row.member_id, Report.received_at >= row.created_at)
        .order_by(Report.id.desc())
    )
    if report is not None:
        studied = "studied" if report.studied else "did not study"
        click.echo(f"saved: report {report.period} {studied} ({report.channel.value})")


__all__ = ["answer_call", "heard", "hold_calls"]
