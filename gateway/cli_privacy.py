"""`flask privacy retention`: apply (or, with --dry-run, count) the retention rules now."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import AppGroup
from sqlalchemy import select

from infra.db import get_session
from models import Organization, find_org, utcnow
from models.org import OrgKind
from models.privacy import apply_retention

privacy_cli = AppGroup("privacy", help="Personal information (个人信息保护).")


def _moment(text: str | None) -> datetime:
    if not text:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"时间应写作ISO格式 write the time as ISO, e.g. 2027-01-05T02:00+08:00: {text!r}",
            param_hint="--now",
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(
            f"时间需带时区 the time needs a UTC offset: {text!r}", param_hint="--now"
        )
    return moment


@privacy_cli.command("retention")
@click.option("--org", "org_name", default=None, help="A township (default: every township).")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@click.option("--now", "now_text", default=None, help="As of this ISO time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def retention_command(
    org_name: str | None, dry_run: bool, now_text: str | None, as_json: bool
) -> None:
    """Apply each township's retention settings: recordings' audio, inbound texts' bodies,
    finished phone-change codes and conversations, old audit entries, unused logins. The
    nightly run does the same once a night; this prints what it removed (or would)."""
    now = _moment(now_text)
    session = get_session()
    if org_name:
        org = find_org(session, org_name)
        if org is None or org.kind is not OrgKind.TOWNSHIP:
            raise click.ClickException(f"未知乡镇 unknown township: {org_name}")
        townships = [org]
    else:
        townships = list(
            session.scalars(
                select(Organization)
                .where(Organization.kind == OrgKind.TOWNSHIP)
                .order_by(Organization.id)
            )
        )
    report: dict[str, dict[str, int]] = {}
    for township in townships:
        removed = apply_retention(session, township, now, dry_run=dry_run)
        report[township.name] = removed.counts()
    if dry_run:
        session.rollback()
    else:
        session.commit()
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "townships": report}, ensure_ascii=False))
        return
    verb = "将删除 would remove" if dry_run else "已删除 removed"
    for name, counts in report.items():
        figures = ", ".join(f"{key} {value}" for key, value in counts.items())
        click.echo(f"{name}: {verb}: {figures}")
