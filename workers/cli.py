"""`flask broadcast`, `flask campaign` and `flask reminders`: the workers' commands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clients
from infra.db import get_session
from models import Broadcast, LessonCampaign, Organization, OrgKind, User, find_org, utcnow
from models.broadcast import (
    BroadcastError,
    broadcast_progress,
    broadcast_send_times,
    create_broadcast,
)
from models.cycle import CycleError, close_period
from models.lesson import CampaignError, campaign_progress, create_campaign
from models.org import township_of
from models.tally import tally_period
from models.targets import BilingualError
from workers.broadcasts import start_broadcast
from workers.campaigns import start_campaign
from workers.reminders import tick

broadcast_cli = AppGroup("broadcast", help="Broadcast notices (SMS) to members.")
campaign_cli = AppGroup("campaign", help="Lesson call campaigns.")
reminders_cli = AppGroup("reminders", help="The monthly reminder cycle.")


def _target_options(command: Any) -> Any:
    """The target filters shared by broadcasts and campaigns."""
    options = (
        click.option("--branch", "branches", multiple=True, help="Only this branch (repeatable)."),
        click.option("--host", "hosts", multiple=True, help="Only this host organisation."),
        click.option("--city", "cities", multiple=True, help="Only members in this city."),
        click.option("--industry", "industries", multiple=True, help="Only this industry."),
        click.option("--nonreporters", default=None, help="Only non-reporters of YYYY-MM."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _target(
    branches: tuple[str, ...],
    hosts: tuple[str, ...],
    cities: tuple[str, ...],
    industries: tuple[str, ...],
    nonreporters: str | None,
) -> dict[str, Any]:
    return {
        "branches": list(branches),
        "hosts": list(hosts),
        "cities": list(cities),
        "industries": list(industries),
        "nonreporters": nonreporters,
    }


def _org(session: Session, name: str) -> Organization:
    org = find_org(session, name)
    if org is None or org.kind is OrgKind.HOST:
        raise click.ClickException(f"未知乡镇或支部 unknown township or branch: {name}")
    return org


def _author(session: Session, username: str | None) -> int | None:
    if username is None:
        return None
    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise click.ClickException(f"未知用户 unknown user: {username}")
    return user_id


def _when(session: Session, org: Organization, text: str | None) -> datetime | None:
    """An ISO time; without an offset it is the township's local time."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not an ISO time: {text}", param_hint="--at") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(township_of(session, org).timezone))
    return when


def _fail(session: Session, exc: BilingualError) -> click.ClickException:
    session.rollback()
    return click.ClickException(str(exc))


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {value}")


@broadcast_cli.command("create")
@click.option("--org", "org_name", required=True, help="The township or branch that sends it.")
@click.option("--text", required=True, help="The notice.")
@_target_options
@click.option("--at", "at", default=None, help="When to send (ISO time; local if no offset).")
@click.option(
    "--urgent",
    is_flag=True,
    help="Send to everyone at once, whatever their contact windows (a township only; audited).",
)
@click.option("--author", default=None, help="Username of the sender, for the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def broadcast_create(
    org_name: str,
    text: str,
    branches: tuple[str, ...],
    hosts: tuple[str, ...],
    cities: tuple[str, ...],
    industries: tuple[str, ...],
    nonreporters: str | None,
    at: str | None,
    urgent: bool,
    author: str | None,
    as_json: bool,
) -> None:
    """Store a broadcast and queue it; print its id (or, with --json, id and recipients).

    Each member gets it inside their contact window; when that is, is said on stderr.
    """
    session = get_session()
    org = _org(session, org_name)
    now = utcnow()
    try:
        broadcast = create_broadcast(
            session,
            org=org,
            author_id=_author(session, author),
            text=text,
            target=_target(branches, hosts, cities, industries, nonreporters),
            scheduled_at=_when(session, org, at),
            now=now,
            urgent=urgent,
            via="cli",
            price=Decimal(str(current_app.config.get("PRICE_PER_SEGMENT") or "0")),
        )
    except BroadcastError as exc:
        raise _fail(session, exc) from None
    first, last = broadcast_send_times(session, broadcast)
    start_broadcast(session, broadcast)
    session.commit()
    zone = ZoneInfo(township_of(session, org).timezone)
    if as_json:
        _print(
            {
                "id": broadcast.id,
                "recipients": broadcast.recipients,
                "segments": broadcast.segments,
                "scheduled_at": broadcast.scheduled_at.isoformat(),
                "status": broadcast.status.value,
                "urgent": broadcast.urgent,
                "first_send_at": first.astimezone(zone).isoformat(),
                "last_send_at": last.astimezone(zone).isoformat(),
            },
            True,
        )
    else:
        click.echo(broadcast.id)
        click.echo(_send_times_line(broadcast.urgent, first, last, now, zone), err=True)


def _send_times_line(
    urgent: bool, first: datetime, last: datetime, now: datetime, zone: ZoneInfo
) -> str:
    """When a notice goes out, in Chinese and English, local time."""
    start, end = first.astimezone(zone), last.astimezone(zone)
    if urgent:
        return f"紧急通知,{start:%Y-%m-%d %H:%M}立即发给所有成员 / urgent: sent to everyone at once"
    if last <= now + timedelta(minutes=1):
        return "成员都在联系时段内,立即发送 / every member's contact window is open: sending now"
    return (
        f"将于{start:%Y-%m-%d %H:%M}起按各成员联系时段发送,最晚{end:%Y-%m-%d %H:%M} / "
        f"goes out in each member's contact window from {start:%Y-%m-%d %H:%M}, "
        f"the last at {end:%Y-%m-%d %H:%M}"
    )


@broadcast_cli.command("status")
@click.argument("broadcast_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def broadcast_status(broadcast_id: int, as_json: bool) -> None:
    """Print how far a broadcast has gone: recipients, queued, sending, sent, delivered..."""
    session = get_session()
    try:
        counts = broadcast_progress(session, broadcast_id)
    except BroadcastError as exc:
        raise _fail(session, exc) from None
    broadcast = session.get(Broadcast, broadcast_id)
    assert broadcast is not None  # broadcast_progress found it
    _print(
        {"id": broadcast_id, "status": broadcast.status.value, "urgent": broadcast.urgent} | counts,
        as_json,
    )


@campaign_cli.command("create")
@click.option("--lesson", "lesson_id", type=int, required=True, help="The lesson's id.")
@click.option("--org", "org_name", required=True, help="The township or branch that runs it.")
@_target_options
@click.option("--author", default=None, help="Username of the sender, for the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def campaign_create(
    lesson_id: int,
    org_name: str,
    branches: tuple[str, ...],
    hosts: tuple[str, ...],
    cities: tuple[str, ...],
    industries: tuple[str, ...],
    nonreporters: str | None,
    author: str | None,
    as_json: bool,
) -> None:
    """Start calling the target with a lesson; print the campaign id."""
    session = get_session()
    org = _org(session, org_name)
    try:
        campaign = create_campaign(
            session,
            lesson_id=lesson_id,
            org=org,
            author_id=_author(session, author),
            target=_target(branches, hosts, cities, industries, nonreporters),
            now=utcnow(),
            via="cli",
            playback=clients.provider().lesson_playback,
        )
    except CampaignError as exc:
        raise _fail(session, exc) from None
    start_campaign(session, campaign)
    session.commit()
    if as_json:
        _print({"id": campaign.id, "recipients": campaign.recipients}, True)
    else:
        click.echo(campaign.id)


@campaign_cli.command("status")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def campaign_status(campaign_id: int, as_json: bool) -> None:
    """Print how far a campaign has gone: members pending, calling, done, missed, skipped."""
    session = get_session()
    try:
        counts = campaign_progress(session, campaign_id)
    except CampaignError as exc:
        raise _fail(session, exc) from None
    campaign = session.get(LessonCampaign, campaign_id)
    assert campaign is not None  # campaign_progress found it
    _print({"id": campaign_id, "status": campaign.status.value, **counts}, as_json)


@reminders_cli.command("tick")
@click.option("--now", "now_iso", default=None, help="Run as if it were this ISO time.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def reminders_tick(now_iso: str | None, as_json: bool) -> None:
    """Run one tick of the reminder cycle now: every step due, in every township."""
    taken = tick(now_iso)
    if as_json:
        click.echo(json.dumps(taken))
    elif taken:
        _print(taken, False)
    else:
        click.echo("nothing due")


@reminders_cli.command("close-period")
@click.argument("period")
@click.option("--org", "org_name", default=None, help="One township (default: every township).")
def reminders_close_period(period: str, org_name: str | None) -> None:
    """Fix the non-reporters of a finished period (YYYY-MM); closing twice adds nobody."""
    session = get_session()
    townships = _townships(session, org_name)
    now = utcnow()
    for township in townships:
        try:
            added = close_period(session, township, period, now)
        except CycleError as exc:
            raise _fail(session, exc) from None
        click.echo(f"{township.name}: {added}")
    session.commit()


@reminders_cli.command("tally")
@click.argument("period")
@click.option("--org", "org_name", default=None, help="One township (default: every township).")
def reminders_tally(period: str, org_name: str | None) -> None:
    """Count a settled period's figures per branch (YYYY-MM) again, for the trend chart.

    The hourly close job tallies each period once it settles, back two years; this recounts
    one period, older ones too.
    """
    session = get_session()
    townships = _townships(session, org_name)
    now = utcnow()
    for township in townships:
        try:
            written = tally_period(session, township, period, now)
        except CycleError as exc:
            raise _fail(session, exc) from None
        click.echo(f"{township.name}: {written}")
    session.commit()


def _townships(session: Session, org_name: str | None) -> list[Organization]:
    """The township of the organisation named, or every township."""
    if org_name is not None:
        return [township_of(session, _org(session, org_name))]
    return list(session.scalars(select(Organization).where(Organization.kind == OrgKind.TOWNSHIP)))


__all__ = ["broadcast_cli", "campaign_cli", "reminders_cli"]
