"""Importing the member register (登记卡) and the organisation tree from spreadsheets.

A file is checked whole before anything is written: with any bad row, nothing changes.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.member import (
    ChangeSource,
    Language,
    Member,
    MembershipStatus,
    change_phone,
    change_status,
    valid_birth_year,
)
from models.notice import NoticeChannel, PrivacyNotice, record_notice
from models.org import Organization, OrgKind
from models.phones import InvalidPhone, normalize_phone
from models.user import User

MEMBER_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名",),
    "phone": ("手机号", "手机", "电话", "手机号码"),
    "branch": ("支部", "所属支部"),
    "status": ("党员类别", "类别"),
    "sex": ("性别",),
    "birth_year": ("出生年份",),
    "education": ("文化程度", "学历"),
    "occupation": ("职业",),
    "industry": ("行业",),
    "employer": ("工作单位", "单位"),
    "city": ("所在城市", "城市"),
    "province": ("省份",),
    "departure_date": ("外出时间",),
    "reason": ("外出原因",),
    "card_no": ("活动证号", "流动党员活动证号"),
    "liaison": ("联络员",),
    "language": ("语言",),
    "host_org": ("流入地党组织",),
}
ORG_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("名称", "组织名称"),
    "kind": ("类型",),
    "parent": ("上级", "上级组织"),
    "timezone": ("时区",),
}


def chinese_header(*keys: str) -> tuple[str, ...]:
    """The Chinese header of each named register column, in order (for writing registers)."""
    return tuple(MEMBER_COLUMNS[key][0] for key in keys)


REQUIRED_MEMBER = ("name", "phone", "branch")
REQUIRED_ORG = ("name", "kind")
HEADER_SEARCH_ROWS = 5

_STATUS = {
    "正式": MembershipStatus.FULL,
    "正式党员": MembershipStatus.FULL,
    "full": MembershipStatus.FULL,
    "预备": MembershipStatus.PROBATIONARY,
    "预备党员": MembershipStatus.PROBATIONARY,
    "probationary": MembershipStatus.PROBATIONARY,
}
_SEX = {"男": "男", "m": "男", "male": "男", "女": "女", "f": "女", "female": "女"}
_LANGUAGE = {
    "中文": Language.ZH,
    "汉语": Language.ZH,
    "普通话": Language.ZH,
    "zh": Language.ZH,
    "zh_cn": Language.ZH,
    "zh-cn": Language.ZH,
    "chinese": Language.ZH,
    "英语": Language.EN,
    "英文": Language.EN,
    "en": Language.EN,
    "english": Language.EN,
}
_KIND = {
    "township": OrgKind.TOWNSHIP,
    "乡镇": OrgKind.TOWNSHIP,
    "乡镇党委": OrgKind.TOWNSHIP,
    "branch": OrgKind.BRANCH,
    "支部": OrgKind.BRANCH,
    "村党支部": OrgKind.BRANCH,
    "host": OrgKind.HOST,
    "流入地": OrgKind.HOST,
    "流入地党组织": OrgKind.HOST,
}
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(?:(\d{1,2})\s*[日号]?)?)?$")


@dataclass
class RowError:
    """A bad row: its number in the file (header is row 1) and why."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"第{self.row}行 row {self.row}: {self.reason}"


@dataclass
class ImportResult:
    """What an import did, or would do with --dry-run."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the file had no bad rows."""
        return not self.errors


class ImportFileError(ValueError):
    """The file cannot be read as a register at all (format, header)."""


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return unicodedata.normalize("NFKC", str(value)).strip()


def read_table(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Rows of a CSV or XLSX file as (row number, cells), the header first, blank rows skipped."""
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        yield from _read_xlsx(path)
    elif suffix in {".csv", ".txt"}:
        yield from _read_csv(path)
    else:
        raise ImportFileError(
            f"不支持的文件类型,请用CSV或XLSX unsupported file type {suffix or '(none)'}: "
            "use .csv or .xlsx"
        )


def _read_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFileError("CSV编码应为UTF-8或GB18030 the CSV is neither UTF-8 nor GB18030")
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [_clean(c) for c in row]
        if any(cells):
            yield number, cells


def _read_xlsx(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise ImportFileError(f"无法读取表格 cannot read the spreadsheet: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_clean(c) for c in row]
            if any(cells):
                yield number, cells
    finally:
        workbook.close()


def _header_map(header: list[str], columns: dict[str, tuple[str, ...]]) -> dict[str, int]:
    aliases: dict[str, str] = {}
    for key, names in columns.items():
        aliases[key.lower()] = key
        for name in names:
            aliases[name] = key
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        canon = aliases.get(cell.strip().lower()) or aliases.get(cell.strip())
        if canon and canon not in found:
            found[canon] = index
    return found


def _records(
    rows: Iterable[tuple[int, list[str]]],
    columns: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
) -> Iterator[tuple[int, dict[str, str]]]:
    iterator = iter(rows)
    first: dict[str, int] | None = None
    found: dict[str, int] | None = None
    # Registers kept by hand often open with a title row (东村党支部流动党员登记表):
    # the header is the first of the opening rows that names every required column.
    for _ in range(HEADER_SEARCH_ROWS):
        try:
            _, cells = next(iterator)
        except StopIteration:
            break
        candidate = _header_map(cells, columns)
        first = candidate if first is None else first
        if all(k in candidate for k in required):
            found = candidate
            break
    if first is None:
        raise ImportFileError("文件是空的 the file is empty")
    mapping = found or first
    missing = [k for k in required if k not in mapping]
    if missing:
        names = ", ".join(f"{k} ({columns[k][0]})" for k in missing)
        raise ImportFileError(f"缺少列 missing columns: {names}")
    for number, cells in iterator:
        yield number, {k: (cells[i] if i < len(cells) else "") for k, i in mapping.items()}


def parse_date(text: str) -> date:
    """A date as people write it: 2024-03-01, 2024/3/1, 2024.3, 2024年3月."""
    match = _DATE_RE.match(text.strip())
    if not match:
        raise ValueError(text)
    year, month, day = int(match[1]), int(match[2]), int(match[3] or 1)
    return date(year, month, day)


def _known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # OSError: a directory such as "Asia"
        return False
    return True


def _cycles(parents: dict[str, str | None]) -> set[str]:
    """Names whose chain of parents comes back to a name already on it."""
    looped: set[str] = set()
    for start in parents:
        chain: list[str] = []
        current: str | None = start
        while current is not None and current not in chain:
            chain.append(current)
            current = parents.get(current)
        if current is not None:
            looped.add(start)
    return looped


def import_orgs(
    session: Session, rows: Iterable[tuple[int, list[str]]], *, timezone: str = "Asia/Shanghai"
) -> ImportResult:
    """Create or update organisations; parents may appear later in the same file.

    `timezone` is given to new organisations whose row leaves the time zone blank.
    """
    result = ImportResult()
    existing = {o.name: o for o in session.scalars(select(Organization))}
    names_by_id = {o.id: o.name for o in existing.values()}
    records = list(_records(rows, ORG_COLUMNS, REQUIRED_ORG))
    seen: dict[str, int] = {}
    names_in_file = {r["name"] for _, r in records}
    parents: dict[str, str | None] = {
        o.name: names_by_id.get(o.parent_id) if o.parent_id else None for o in existing.values()
    }
    row_of: dict[str, int] = {}
    for number, rec in records:
        name = rec["name"]
        if not name:
            result.errors.append(RowError(number, "缺少名称 missing name"))
            continue
        if name in seen:
            result.errors.append(
                RowError(number, f"名称与第{seen[name]}行重复 duplicate of row {seen[name]}")
            )
        seen[name] = number
        row_of[name] = number
        if rec["kind"].lower() not in _KIND:
            result.errors.append(RowError(number, f"未知类型 unknown kind: {rec['kind']!r}"))
        parent = rec.get("parent", "")
        if parent and parent not in existing and parent not in names_in_file:
            result.errors.append(RowError(number, f"未知上级 unknown parent: {parent}"))
        parents[name] = parent or None
        tz = rec.get("timezone", "")
        if tz and not _known_timezone(tz):
            result.errors.append(RowError(number, f"未知时区 unknown time zone: {tz}"))
    for name in sorted(_cycles(parents) & row_of.keys(), key=row_of.__getitem__):
        result.errors.append(
            RowError(row_of[name], f"上级关系成环 parent chain loops: {name} -> {parents[name]}")
        )
    if result.errors:
        return result
    for _, rec in records:
        org = existing.get(rec["name"])
        kind = _KIND[rec["kind"].lower()]
        if org is None:
            org = Organization(
                name=rec["name"], kind=kind, timezone=rec.get("timezone") or timezone
            )
            session.add(org)
            existing[org.name] = org
            result.created += 1
            continue
        parent_name = rec.get("parent") or None
        values = {"kind": kind, "timezone": rec.get("timezone") or org.timezone}
        if (
            any(getattr(org, k) != v for k, v in values.items())
            or names_by_id.get(org.parent_id or 0) != parent_name
        ):
            for k, v in values.items():
                setattr(org, k, v)
            result.updated += 1
        else:
            result.unchanged += 1
    session.flush()
    for _, rec in records:
        parent_name = rec.get("parent", "")
        parent_id = existing[parent_name].id if parent_name else None
        org = existing[rec["name"]]
        if org.parent_id != parent_id:
            org.parent_id = parent_id
    return result


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    card_no: str


def _parse_member_row(
    number: int,
    rec: dict[str, str],
    branches: dict[str, int],
    hosts: dict[str, int],
    liaisons: dict[str, int],
    region: str,
    errors: list[RowError],
) -> _Row | None:
    bad = len(errors)

    def err(reason: str) -> None:
        errors.append(RowError(number, reason))

    values: dict[str, Any] = {}
    if not rec.get("name"):
        err("缺少姓名 missing name")
    values["name"] = rec.get("name", "")
    phone = rec.get("phone", "")
    if not phone:
        err("缺少手机号 missing phone")
    else:
        try:
            values["phone"] = normalize_phone(phone, region)
        except InvalidPhone:
            err(f"手机号无效 invalid phone: {phone!r}")
    branch = rec.get("branch", "")
    if not branch:
        err("缺少支部 missing branch")
    elif branch not in branches:
        err(f"未知支部 unknown branch: {branch!r}")
    else:
        values["branch_id"] = branches[branch]
    status = rec.get("status", "")
    if status:
        if status.lower() not in _STATUS:
            err(f"党员类别无效 bad status: {status!r} (正式/预备)")
        else:
            values["status"] = _STATUS[status.lower()]
    sex = rec.get("sex", "")
    if sex:
        if sex.lower() not in _SEX:
            err(f"性别无效 bad sex: {sex!r}")
        else:
            values["sex"] = _SEX[sex.lower()]
    year = rec.get("birth_year", "")
    if year:
        digits = year.removesuffix("年")
        if not digits.isdigit() or not valid_birth_year(int(digits)):
            err(f"出生年份无效 bad birth year: {year!r}")
        else:
            values["birth_year"] = int(digits)
    departure = rec.get("departure_date", "")
    if departure:
        try:
            values["departure_date"] = parse_date(departure)
        except ValueError:
            err(f"日期无效 bad date: {departure!r}")
    language = rec.get("language", "")
    if language:
        if language.lower() not in _LANGUAGE:
            err(f"语言无效 bad language: {language!r}")
        else:
            values["language"] = _LANGUAGE[language.lower()]
    host = rec.get("host_org", "")
    if host:
        if host not in hosts:
            err(f"未知流入地党组织 unknown host organisation: {host!r}")
        else:
            values["host_org_id"] = hosts[host]
    liaison = rec.get("liaison", "")
    if liaison:
        if liaison not in liaisons:
            err(f"未知联络员 unknown liaison: {liaison!r}")
        else:
            values["liaison_id"] = liaisons[liaison]
    for key in ("education", "occupation", "industry", "employer", "city", "province", "reason"):
        if rec.get(key):
            values[key] = rec[key]
    card_no = rec.get("card_no", "")
    if card_no:
        values["card_no"] = card_no
    if len(errors) > bad:
        return None
    return _Row(number, values, card_no)


_TRACKED = ("city", "employer", "host_org_id")


def import_members(
    session: Session,
    rows: Iterable[tuple[int, list[str]]],
    *,
    region: str = "CN",
    dry_run: bool = False,
    allowed_branches: Collection[int] | None = None,
    allowed_hosts: Collection[int] | None = None,
) -> ImportResult:
    """Create or update members from register rows; with any bad row, write nothing.

    With `allowed_branches` (an admin user's branches), a row naming another branch, or
    matching a member of another branch by phone or card number, is a bad row. With
    `allowed_hosts` (the hosts of the user's township), a row naming another host is a bad
    row, unless it is the host the member already has.
    """
    result = ImportResult()
    orgs = session.execute(select(Organization.name, Organization.id, Organization.kind)).all()
    branches = {name: oid for name, oid, kind in orgs if kind is OrgKind.BRANCH}
    allowed = None if allowed_branches is None else frozenset(allowed_branches)
    hosts = {name: oid for name, oid, kind in orgs if kind is OrgKind.HOST}
    liaisons: dict[str, int] = {}
    for user in session.scalars(select(User)):
        liaisons[user.username] = user.id
        if user.display_name:
            liaisons.setdefault(user.display_name, user.id)
    by_phone = {m.phone: m for m in session.scalars(select(Member))}
    by_card = {m.card_no: m for m in by_phone.values() if m.card_no}

    parsed: list[_Row] = []
    first_row_of_phone: dict[str, int] = {}
    first_row_of_card: dict[str, int] = {}
    for number, rec in _records(rows, MEMBER_COLUMNS, REQUIRED_MEMBER):
        row = _parse_member_row(number, rec, branches, hosts, liaisons, region, result.errors)
        if row is None:
            continue
        if allowed is not None and row.values["branch_id"] not in allowed:
            result.errors.append(
                RowError(number, f"不是您的支部 not your branch: {rec.get('branch', '')!r}")
            )
            continue
        phone = row.values["phone"]
        if phone in first_row_of_phone:
            first = first_row_of_phone[phone]
            result.errors.append(
                RowError(number, f"手机号与第{first}行重复 phone {phone} also on row {first}")
            )
            continue
        first_row_of_phone[phone] = number
        if row.card_no in first_row_of_card:
            first = first_row_of_card[row.card_no]
            result.errors.append(
                RowError(
                    number,
                    f"活动证号与第{first}行重复 card number {row.card_no} also on row {first}",
                )
            )
            continue
        if row.card_no:
            first_row_of_card[row.card_no] = number
        owner = by_phone.get(phone)
        target = by_card.get(row.card_no) if row.card_no else None
        if owner is not None and target is not None and owner is not target:
            result.errors.append(
                RowError(number, f"手机号已属于其他党员 phone {phone} belongs to {owner.name}")
            )
            continue
        if owner is not None and target is None and owner.name != row.values["name"]:
            result.errors.append(
                RowError(number, f"手机号已属于其他党员 phone {phone} belongs to {owner.name}")
            )
            continue
        if allowed is not None and any(
            m is not None and m.branch_id not in allowed for m in (owner, target)
        ):
            result.errors.append(
                RowError(
                    number,
                    "该党员属于其他支部 this member belongs to a branch that is not yours",
                )
            )
            continue
        host_id = row.values.get("host_org_id")
        existing = target or owner
        present = existing.host_org_id if existing is not None else None
        if (
            allowed_hosts is not None
            and host_id is not None
            and host_id not in allowed_hosts
            and host_id != present
        ):
            result.errors.append(
                RowError(
                    number, f"未知流入地党组织 unknown host organisation: {rec.get('host_org')!r}"
                )
            )
            continue
        parsed.append(row)
    if result.errors:
        return result

    new_members: list[dict[str, Any]] = []
    for row in parsed:
        phone = row.values["phone"]
        member = (by_card.get(row.card_no) if row.card_no else None) or by_phone.get(phone)
        if member is None:
            result.created += 1
            new_members.append(row.values)
            continue
        changed = _apply(session, member, row.values, dry_run)
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1
    if not dry_run:
        session.flush()
        if new_members:
            # One bulk INSERT rather than a unit-of-work object per row: a whole register
            # loads in about half the time, and nothing here needs the Member objects.
            session.execute(insert(Member), new_members)
        told_at_registration(session, [row.values["phone"] for row in parsed])
    return result


def told_at_registration(session: Session, phones: list[str]) -> int:
    """Record that the members on an imported register were told what is kept (the branch
    tells them when registering them), unless they were told already; returns how many.

    The register page and `flask members import --help` say so (README, Privacy).
    """
    now = utcnow()
    recorded = 0
    for first in range(0, len(phones), 500):
        ids = session.scalars(
            select(Member.id).where(
                Member.phone.in_(phones[first : first + 500]),
                Member.id.not_in(select(PrivacyNotice.member_id)),
            )
        ).all()
        for member_id in ids:
            record_notice(session, member_id, NoticeChannel.REGISTER, now)
        recorded += len(ids)
    session.flush()
    return recorded


def _apply(session: Session, member: Member, values: dict[str, Any], dry_run: bool) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(member, key) == value:
            continue
        changed = True
        if dry_run:
            continue
        if key == "phone":
            change_phone(session, member, value, source=ChangeSource.IMPORT)
        elif key in _TRACKED:
            change_status(session, member, source=ChangeSource.IMPORT, **{key: value})
        else:
            setattr(member, key, value)
    return changed
