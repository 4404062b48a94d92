"""`flask review export`: the yearly review's basis as CSV or XLSX."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from infra.db import get_session
from models import Organization, find_org
from models.audit import AuditAction, audit
from models.exports import write_csv, write_workbook
from models.org import OrgKind
from models.reads.review import BASIS_HEADER, basis_rows
from models.scope import org_scope

review_cli = AppGroup("review", help="The yearly review (一年一评).")
FORMATS = (".csv", ".xlsx")


@review_cli.command("export")
@click.option("--year", required=True, type=click.IntRange(2000, 2100), help="The year, YYYY.")
@click.option("--org", "org_name", default=None, help="Township or branch (default: all).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A .csv or .xlsx file (default: CSV on standard output).",
)
def export_command(year: int, org_name: str | None, out: Path | None) -> None:
    """Write one row per active member: reports, months studied, lesson minutes, confirmed
    deeds, approved tips and the rating. The file's extension chooses the format."""
    suffix = out.suffix if out is not None else ".csv"
    fmt = suffix.lower()
    if fmt not in FORMATS:
        raise click.BadParameter(
            f"不支持的文件类型 unsupported file type {suffix or '(none)'}: use .csv or .xlsx",
            param_hint="--out",
        )
    session = get_session()
    if org_name:
        org = find_org(session, org_name)
        if org is None:
            raise click.ClickException(f"未知组织 unknown organisation: {org_name}")
        orgs = [org]
    else:
        orgs = list(
            session.scalars(
                select(Organization)
                .where(Organization.kind == OrgKind.TOWNSHIP)
                .order_by(Organization.id)
            )
        )

    def rows() -> Iterator[list[object]]:
        for org in orgs:
            yield from basis_rows(session, org_scope(session, org), year)

    if out is None:
        count = write_csv(sys.stdout, BASIS_HEADER, rows())
    elif fmt == ".xlsx":
        with out.open("wb") as binary:
            count = write_workbook(binary, str(year), BASIS_HEADER, rows())
    else:
        with out.open("w", newline="", encoding="utf-8") as handle:
            count = write_csv(handle, BASIS_HEADER, rows())
    audit(
        session,
        None,
        AuditAction.EXPORT,
        f"review:{year}:{fmt.lstrip('.')}",
        {"rows": count, "org": org_name, "out": str(out) if out else "-", "via": "cli"},
    )
    session.commit()
    if out is not None:
        click.echo(f"{count} rows written to {out}", err=True)
