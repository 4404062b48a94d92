"""Report exports: one row per active member of an organisation's tree for a period."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any

from openpyxl import Workbook
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


def _xlsx_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def write_workbook(
    handle: IO[bytes], sheet: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Write an XLSX workbook of one sheet (a header row, then the rows); rows written.

    Written in one pass (openpyxl's write-only mode), so a long export stays small in memory.
    """
    book = Workbook(write_only=True)
    worksheet = book.create_sheet(sheet[:31])
    worksheet.append(list(header))
    count = 0
    for row in rows:
        worksheet.append([_xlsx_cell(v) for v in row])
        count += 1
    book.save(handle)
    return count
