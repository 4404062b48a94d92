"""`flask phone call` under PROVIDER=tencent: the member picks up the call Tencent rings.

Tencent Cloud's voice messages call out only: there is no hotline to dial. The sandbox holds
every call SendTtsVoice placed; this answers the newest one still ringing for the number
(a call rings until answered when the sandbox was told so: POST
/_sandbox/tencent/voice/scripts {"action": "ring"}; otherwise the sandbox's member answers at
once and presses 1), presses the keys given, and the sandbox pushes the key presses and the
call's status to the app's voice-status address as Tencent would. It prints what the member
heard and, once the app took the pushes, what was saved.
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
from infra.providers.tencent import Endpoint
from models import Call, Report
from models.call import CALL_FINAL
from models.sms_templates import TENCENT, registry

TIMEOUT = 20.0
WAIT_S = 10.0  # how long to wait for the app to take the sandbox's pushes
SECONDS_ON_LINE = 20


def answer_tencent_call(phone: str, presses: Sequence[str], missed: bool) -> None:
    """Answer the newest call ringing for `phone` in the sandbox, pressing `presses`."""
    if missed:
        raise click.ClickException(
            "Tencent Cloud does not report calls to the service number: a member asks for a "
            "call by SMS (see the README, 'Voice through Tencent Cloud')"
        )
    endpoint = Endpoint.parse(str(current_app.config["TENCENT_SMS_ENDPOINT"]))
    if endpoint.is_tencent:
        raise click.ClickException("TENCENT_SMS_ENDPOINT is Tencent's own: no sandbox to answer")
    base = f"{endpoint.scheme}://{endpoint.host}"
    keys = "".join(presses)
    try:
        response = requests.post(
            f"{base}/_sandbox/tencent/voice/answer",
            json={"to": phone, "keys": keys, "seconds": SECONDS_ON_LINE},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach the sandbox at {base}: {exc}") from exc
    if response.status_code == 404:
        raise click.ClickException(response.json().get("error", "no call is ringing"))
    if response.status_code != 200:
        raise click.ClickException(f"the sandbox answered HTTP {response.status_code}")
    call: dict[str, Any] = response.json()
    click.echo(f"< ring: call {call['call_id']} to {phone}")
    click.echo(f"  hears: {spoken_text(str(call['template_id']))}")
    click.echo(f"  press {keys}" if keys else "  (listens without pressing)")
    click.echo(f"  (hangs up after {SECONDS_ON_LINE} s)")
    saved = wait_for_end(str(call["call_id"]))
    for line in saved:
        click.echo(line)


def spoken_text(template_id: str) -> str:
    """The text of the registry's spoken template the call was placed with (by its approved
    code, or by its name `voice.<key>` as the sandbox takes an unapproved one)."""
    for (provider, key), template in registry().voice.items():
        if provider == TENCENT and template_id in (template.code, f"voice.{key}"):
            return template.source
    return f"(template {template_id}, not in the registry)"


def wait_for_end(call_sid: str) -> list[str]:
    """What the app made of the call once its pushes arrived: the call's end and the report."""
    session = get_session()
    deadline = time.monotonic() + WAIT_S
    while True:
        session.expire_all()
        call = session.scalar(select(Call).where(Call.call_sid == call_sid))
        if call is not None and call.status in CALL_FINAL:
            break
        if time.monotonic() > deadline:
            return ["(the app has not ended the call yet: is it serving the push address?)"]
        time.sleep(0.2)
    lines = [f"saved: call {call.id} {call.status.value}, {call.duration or 0} s"]
    report = session.scalar(
        select(Report).where(Report.member_id == call.member_id).order_by(Report.id.desc()).limit(1)
    )
    if report is not None and report.received_at >= call.created_at:
        lines.append(
            f"saved: report {report.period} studied={report.studied} channel={report.channel.value}"
        )
    else:
        lines.append("saved: no report from this call")
    return lines


__all__ = ["answer_tencent_call", "spoken_text", "wait_for_end"]
