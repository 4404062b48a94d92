"""`flask reports export`: the monthly reports of an organisation's members as CSV or XLSX."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TextIO

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from infra.db import get_session
from models import Organization, find_org
from models.audit import AuditAction, audit
from models.exports import REPORT_HEADER, report_rows, write_csv, write_workbook

reports_cli = AppGroup("reports", help="Monthly reports.")
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
FORMATS = (".csv", ".xlsx")


@reports_cli.command("export")
@click.option("--period", required=True, help="The month, YYYY-MM.")
@click.option("--org", "org_name", default=None, help="Township, branch or host (default: all).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A .csv or .xlsx file (default: CSV on standard output).",
)
def export_command(period: str, org_name: str | None, out: Path | None) -> None:
    """Write one row per active member: reported or not, and what they reported.

    The file's extension chooses the format: .csv for CSV text, .xlsx for an Excel
    workbook. Every export is written to the audit log.
    """
    if not PERIOD_RE.match(period):
        raise click.BadParameter("use YYYY-MM, e.g. 2026-11", param_hint="--period")
    suffix = out.suffix if out is not None else ".csv"
    fmt = suffix.lower()
    if fmt not in FORMATS:
        raise click.BadParameter(
            f"不支持的文件类型 unsupported file type {suffix or '(none)'}: use .csv or .xlsx",
            param_hint="--out",
        )
    session = get_session()
    org = None
    if org_name:
        org = find_org(session, org_name)
        if org is None:
            raise click.ClickException(f"未知组织 unknown organisation: {org_name}")
    if out is None:
        count = _write_csv(sys.stdout, session, period, org)
    elif fmt == ".xlsx":
        with out.open("wb") as binary:
            count = write_workbook(binary, period, REPORT_HEADER, report_rows(session, period, org))
    else:
        with out.open("w", newline="", encoding="utf-8") as handle:
            count = _write_csv(handle, session, period, org)
    audit(
        session,
        None,
        AuditAction.EXPORT,
        f"reports:{period}:{fmt.lstrip('.')}",
        {
            "rows": count,
            "org": org.name if org else None,
            "out": str(out) if out else "-",
            "via": "cli",
        },
        org_id=org.id if org else None,
    )
    session.commit()
    if out is not None:
        click.echo(f"{count} rows written to {out}", err=True)


def _write_csv(handle: TextIO, session: Session, period: str, org: Organization | None) -> int:
    return write_csv(handle, REPORT_HEADER, report_rows(session, period, org))
