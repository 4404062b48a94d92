"""`flask reports export`: the monthly reports of an organisation's members as CSV."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path
from typing import TextIO

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from gateway.db import get_session
from models import Organization, find_org
from models.exports import REPORT_HEADER, report_rows

reports_cli = AppGroup("reports", help="Monthly reports.")
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@reports_cli.command("export")
@click.option("--period", required=True, help="The month, YYYY-MM.")
@click.option("--org", "org_name", default=None, help="Township, branch or host (default: all).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export_command(period: str, org_name: str | None, out: Path | None) -> None:
    """Write one CSV row per active member: reported or not, and what they reported."""
    if not PERIOD_RE.match(period):
        raise click.BadParameter("use YYYY-MM, e.g. 2026-11", param_hint="--period")
    session = get_session()
    org = None
    if org_name:
        org = find_org(session, org_name)
        if org is None:
            raise click.ClickException(f"未知组织 unknown organisation: {org_name}")
    if out is None:
        _write(sys.stdout, session, period, org)
        return
    with out.open("w", newline="", encoding="utf-8") as handle:
        count = _write(handle, session, period, org)
    click.echo(f"{count} rows written to {out}", err=True)


def _write(handle: TextIO, session: Session, period: str, org: Organization | None) -> int:
    writer = csv.writer(handle)
    writer.writerow(REPORT_HEADER)
    count = 0
    for row in report_rows(session, period, org):
        writer.writerow(row)
        count += 1
    return count
