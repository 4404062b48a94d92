"""Exports: the monthly report rows, and the one way every CSV and XLSX file is written.

Every export (the admin's CSV and XLSX downloads, `flask reports export`) writes its cells
through `export_cell`, so text from members, the register or staff cannot become a live
formula in a spreadsheet.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any, TextIO

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session, aliased

from models.member import Member
from models.org import Organization, OrgKind, subtree_ids
from models.report import Report

REPORT_HEADER = (
    "phone",
    "name",
    "branch",
    "period",
    "reported",
    "studied",
    "city",
    "employer",
    "channel",
    "received_at",
    "receipt",
)


def report_rows(
    session: Session,
    period: str,
    org: Organization | None,
    members: ColumnElement[bool] | None = None,
) -> Iterator[list[Any]]:
    """Rows of the period's report export, members ordered by branch and name.

    `org` narrows to an organisation's tree (the command line); `members` to the members
    an admin user may see.
    """
    branch = aliased(Organization)
    query = (
        select(Member, branch.name, Report)
        .join(branch, branch.id == Member.branch_id)
        .outerjoin(Report, and_(Report.member_id == Member.id, Report.period == period))
        .where(Member.active.is_(True))
        .order_by(branch.name, Member.name, Member.id)
    )
    if members is not None:
        query = query.where(members)
    if org is not None:
        ids = subtree_ids(session, org.id)
        if org.kind is OrgKind.HOST:
            query = query.where(Member.host_org_id.in_(ids))
        else:
            query = query.where(Member.branch_id.in_(ids))
    for member, branch_name, report in session.execute(query):
        if report is None:
            yield [member.phone, member.name, branch_name, period, "no", "", "", "", "", "", ""]
            continue
        studied = "" if report.studied is None else ("yes" if report.studied else "no")
        yield [
            member.phone,
            member.name,
            branch_name,
            period,
            "yes",
            studied,
            report.city or "",
            report.employer or "",
            report.channel.value,
            report.received_at.isoformat(timespec="seconds"),
            report.receipt,
        ]


# A cell starting with one of these is taken for a formula by Excel, LibreOffice or Google
# Sheets (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A phone number in E.164 is a plus and digits only: no spreadsheet can compute anything from
# it (Excel reads it as a number, at worst), so it is kept as it is, readable as a phone.
E164_RE = re.compile(r"^\+\d{6,15}$")
# Control characters an XLSX file cannot hold (openpyxl refuses them); tab, LF and CR stay.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SHEET_TITLE_MAX = 31
SHEET_TITLE_BAD_RE = re.compile(r"[\\/?*\[\]:\x00-\x1f\x7f]")


def export_cell(value: Any) -> Any:
    """A value as any export writes it into a CSV or XLSX cell.

    Text a spreadsheet would run as a formula (it starts with =, +, -, @, tab or carriage
    return) gets a leading single quote, as OWASP advises, unless it is exactly a phone number
    (E164_RE). Times are written as `YYYY-MM-DD HH:MM`, None as an empty cell, and control
    characters an XLSX file cannot hold are dropped; numbers stay numbers.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if not isinstance(value, str):
        return value
    text = CONTROL_RE.sub("", value)
    if text.startswith(FORMULA_STARTS) and not E164_RE.match(text):
        return "'" + text
    return text


def sheet_title(name: str) -> str:
    """A worksheet title Excel accepts made from any text: no / \\ ? * [ ] : or control
    characters (each becomes `_`), no quote at either end, at most 31 characters."""
    title = SHEET_TITLE_BAD_RE.sub("_", name).strip().strip("'")[:SHEET_TITLE_MAX].strip()
    return title or "Sheet"


def write_csv(handle: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write CSV text (a header row, then the rows, each cell through export_cell); rows written."""
    writer = csv.writer(handle)
    writer.writerow([export_cell(v) for v in header])
    count = 0
    for row in rows:
        writer.writerow([export_cell(v) for v in row])
        count += 1
    return count


def write_workbook(
    handle: IO[bytes], sheet: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Write an XLSX workbook of one sheet (a header row, then the rows); rows written.

    Written in one pass (openpyxl's write-only mode), so a long export stays small in memory.
    Every cell goes through export_cell, so no text becomes a formula: openpyxl makes a
    formula only of text starting with `=`, and writes the rest as text cells. A phone number
    is also formatted as text (`@`), so editing its cell in Excel keeps the `+`.
    """
    from openpyxl import Workbook  # here, not at import: only an export needs it

    book = Workbook(write_only=True)
    worksheet = book.create_sheet(sheet_title(sheet))
    worksheet.append([_xlsx_cell(worksheet, v) for v in header])
    count = 0
    for row in rows:
        worksheet.append([_xlsx_cell(worksheet, v) for v in row])
        count += 1
    book.save(handle)
    return count


def _xlsx_cell(worksheet: Any, value: Any) -> Any:
    written = export_cell(value)
    if isinstance(written, str) and E164_RE.match(written):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(worksheet, value=written)
        cell.number_format = "@"
        return cell
    return written
