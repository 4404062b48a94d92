"""The member register and organisation imports: checking whole files, writing only good ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    ChangeField,
    Language,
    Member,
    MemberChange,
    MembershipStatus,
    Organization,
    OrgKind,
    Role,
)
from models.register import (
    ImportFileError,
    ImportResult,
    RowError,
    import_members,
    import_orgs,
    parse_date,
    read_table,
)
from tests.data.registers import (
    CLEAN_MEMBERS,
    HOST,
    MEMBER_HEADER,
    MESSY_ERRORS,
    MESSY_MEMBERS,
    ORGS,
    TAKEN_PHONE,
    Rows,
    write_table,
)
from tests.factories import make_member, make_org, make_tree, make_user

FORMATS = ("csv", "xlsx")


@pytest.fixture
def tree(session: Session) -> dict[str, Organization]:
    """The township of tests.factories with its two branches and a host organisation."""
    township, east, west = make_tree(session)
    host = make_org(session, HOST, OrgKind.HOST, township)
    return {o.name: o for o in (township, east, west, host)}


def load(session: Session, rows: Rows, path: Path, *, dry_run: bool = False) -> ImportResult:
    """Write rows to path and import them as the register."""
    return import_members(session, read_table(write_table(rows, path)), dry_run=dry_run)


def count(session: Session, model: type[Member] | type[MemberChange]) -> int:
    """How many rows a table holds."""
    return session.scalar(select(func.count()).select_from(model)) or 0


def member(session: Session, phone: str) -> Member:
    """The member with this E.164 phone, as the database holds it."""
    session.expire_all()
    return session.scalars(select(Member).where(Member.phone == phone)).one()


@pytest.mark.parametrize("fmt", FORMATS)
def test_messy_register_reports_every_bad_row_and_writes_nothing(
    session: Session, tree: dict[str, Organization], tmp_path: Path, fmt: str
) -> None:
    """Each bad row is named with its spreadsheet row number and reason; no member is written."""
    make_member(session, tree["西村党支部"], phone=TAKEN_PHONE, name="赵六")

    result = load(session, MESSY_MEMBERS, tmp_path / f"messy.{fmt}")

    found = [(error.row, error.reason) for error in result.errors]
    assert [row for row, _ in found] == [row for row, _ in MESSY_ERRORS]
    for (_, reason), (_, phrase) in zip(found, MESSY_ERRORS, strict=True):
        assert phrase in reason
    assert "2015-13-01" in found[3][1]
    assert "赵六" in found[5][1]
    assert not result.ok
    assert (result.created, result.updated) == (0, 0)
    session.flush()
    assert count(session, Member) == 1
    assert count(session, MemberChange) == 0


def test_row_error_names_its_row_in_both_languages() -> None:
    """A bad row prints as one line with the row number in Chinese and English."""
    assert str(RowError(7, "缺少姓名 missing name")) == "第7行 row 7: 缺少姓名 missing name"


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_register_is_imported_once_and_again_changes_nothing(
    session: Session, tree: dict[str, Organization], tmp_path: Path, fmt: str
) -> None:
    """Every column lands typed and normalised; the same file a second time changes nothing."""
    path = tmp_path / f"clean.{fmt}"

    first = load(session, CLEAN_MEMBERS, path)
    session.commit()
    second = load(session, CLEAN_MEMBERS, path)
    session.commit()

    assert (first.created, first.updated, first.unchanged, first.errors) == (3, 0, 0, [])
    assert (second.created, second.updated, second.unchanged, second.errors) == (0, 0, 3, [])
    assert count(session, Member) == 3
    assert count(session, MemberChange) == 0
    wang = member(session, "+8613800138000")
    assert wang.name == "王建国"
    assert wang.branch_id == tree["东村党支部"].id
    assert wang.status is MembershipStatus.FULL
    assert (wang.sex, wang.birth_year, wang.education) == ("男", 1975, "初中")
    assert (wang.occupation, wang.industry, wang.employer) == ("普工", "制造业", "电子厂")
    assert (wang.city, wang.province, wang.reason) == ("广州", "广东", "务工")
    assert wang.departure_date == date(2015, 3, 1)
    assert wang.card_no == "LD0001"
    assert wang.language is Language.ZH
    assert wang.host_org_id == tree[HOST].id
    li = member(session, "+8613900139000")
    assert li.status is MembershipStatus.PROBATIONARY
    assert li.departure_date == date(2019, 5, 1)
    assert li.host_org_id is None
    zhang = member(session, "+8615000150000")
    assert (zhang.status, zhang.sex, zhang.language) == (
        MembershipStatus.FULL,
        "男",
        Language.EN,
    )
    assert zhang.branch_id == tree["西村党支部"].id


def test_changed_row_updates_the_member_and_records_the_history(
    session: Session, tree: dict[str, Organization], tmp_path: Path
) -> None:
    """A new city, employer, host organisation and phone each leave a dated MemberChange."""
    load(session, CLEAN_MEMBERS, tmp_path / "before.csv")
    session.commit()
    wang = member(session, "+8613800138000")
    host = make_org(session, "深圳宝安电子行业联合党支部", OrgKind.HOST)
    session.commit()
    changed = [list(row) for row in CLEAN_MEMBERS]
    changed[1][MEMBER_HEADER.index("手机号")] = "186 0018 6000"
    changed[1][MEMBER_HEADER.index("所在城市")] = "深圳"
    changed[1][MEMBER_HEADER.index("工作单位")] = "富士康"
    changed[1][MEMBER_HEADER.index("流入地党组织")] = host.name
    changed[1][MEMBER_HEADER.index("文化程度")] = "高中"

    result = load(session, changed, tmp_path / "after.csv")
    session.commit()

    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    assert count(session, Member) == 3
    session.refresh(wang)
    assert (wang.phone, wang.other_phone) == ("+8618600186000", "+8613800138000")
    assert (wang.city, wang.employer, wang.host_org_id) == ("深圳", "富士康", host.id)
    assert wang.education == "高中"
    history = {
        c.field: (c.old_value, c.new_value, c.source)
        for c in session.scalars(select(MemberChange).where(MemberChange.member_id == wang.id))
    }
    assert history == {
        ChangeField.PHONE: ("+8613800138000", "+8618600186000", "import"),
        ChangeField.CITY: ("广州", "深圳", "import"),
        ChangeField.EMPLOYER: ("电子厂", "富士康", "import"),
        ChangeField.HOST_ORG: (str(tree[HOST].id), str(host.id), "import"),
    }
    again = load(session, changed, tmp_path / "after.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert count(session, MemberChange) == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_dry_run_counts_but_writes_nothing(
    session: Session, tree: dict[str, Organization], tmp_path: Path, fmt: str
) -> None:
    """A dry run says what would be created and updated, and leaves the session clean."""
    load(session, CLEAN_MEMBERS[:2], tmp_path / f"one.{fmt}")
    session.commit()
    changed = [list(row) for row in CLEAN_MEMBERS]
    changed[1][MEMBER_HEADER.index("所在城市")] = "深圳"

    result = load(session, changed, tmp_path / f"dry.{fmt}", dry_run=True)

    assert (result.created, result.updated, result.unchanged) == (2, 1, 0)
    assert not session.new
    assert not session.dirty
    session.commit()
    assert count(session, Member) == 1
    assert count(session, MemberChange) == 0
    assert member(session, "+8613800138000").city == "广州"


def test_english_headers_and_only_required_columns(
    session: Session, tree: dict[str, Organization], tmp_path: Path
) -> None:
    """English headers in any case are accepted; only name, phone and branch are needed."""
    rows = (("Name", "PHONE", "branch"), ("周文斌", "0086 187 0018 7000", "西村党支部"))

    result = load(session, rows, tmp_path / "english.csv")

    assert (result.created, result.errors) == (1, [])
    zhou = member(session, "+8618700187000")
    assert (zhou.name, zhou.status, zhou.city) == ("周文斌", MembershipStatus.FULL, None)


def test_liaison_is_found_by_username_or_display_name(
    session: Session, tree: dict[str, Organization], tmp_path: Path
) -> None:
    """The 联络员 column names a user; an unknown liaison is a bad row."""
    liaison = make_user(session, tree["东村党支部"], Role.LIAISON, username="lihong")
    liaison.display_name = "李红"
    session.flush()
    rows = (
        ("姓名", "手机号", "支部", "联络员"),
        ("王建国", "13800138000", "东村党支部", "李红"),
        ("李秀英", "13900139000", "东村党支部", "lihong"),
        ("张志强", "15000150000", "东村党支部", "王五"),
    )

    bad = load(session, rows, tmp_path / "liaison.csv")
    good = load(session, rows[:3], tmp_path / "liaison-ok.csv")

    assert [(e.row, "未知联络员" in e.reason) for e in bad.errors] == [(4, True)]
    assert good.created == 2
    assert member(session, "+8613800138000").liaison_id == liaison.id
    assert member(session, "+8613900139000").liaison_id == liaison.id


def test_the_register_takes_the_birth_years_the_member_form_takes(
    session: Session, tree: dict[str, Organization], tmp_path: Path
) -> None:
    """1900 is a year of birth on the form and in the register alike (one rule)."""
    rows = [list(row) for row in CLEAN_MEMBERS]
    rows[2][MEMBER_HEADER.index("出生年份")] = "1905"

    result = load(session, rows, tmp_path / "old.csv")

    assert result.errors == []
    assert session.scalar(select(Member.birth_year).where(Member.birth_year == 1905)) == 1905


@pytest.mark.parametrize(
    ("column", "value", "phrase"),
    [
        ("党员类别", "入党积极分子", "党员类别无效"),
        ("性别", "未知", "性别无效"),
        ("出生年份", "1850", "出生年份无效"),
        ("出生年份", "八零后", "出生年份无效"),
        ("出生年份", "2100", "出生年份无效"),  # the member form's rule too (valid_birth_year)
        ("语言", "火星文", "语言无效"),
        ("流入地党组织", "不存在的党组织", "未知流入地党组织"),
        ("手机号", "", "缺少手机号"),
        ("支部", "", "缺少支部"),
    ],
)
def test_bad_values_of_optional_columns_are_reported(
    session: Session,
    tree: dict[str, Organization],
    tmp_path: Path,
    column: str,
    value: str,
    phrase: str,
) -> None:
    """A value that cannot be understood in any column makes its row bad, with a reason."""
    rows = [list(row) for row in CLEAN_MEMBERS]
    rows[2][MEMBER_HEADER.index(column)] = value

    result = load(session, rows, tmp_path / "bad.csv")

    assert [e.row for e in result.errors] == [3]
    assert phrase in result.errors[0].reason
    assert count(session, Member) == 0


def test_same_card_number_twice_in_a_file_is_a_bad_row(
    session: Session, tree: dict[str, Organization], tmp_path: Path
) -> None:
    """Two rows cannot both be the holder of one activity card."""
    rows = [list(row) for row in CLEAN_MEMBERS]
    rows[2][MEMBER_HEADER.index("活动证号")] = "LD0001"

    result = load(session, rows, tmp_path / "cards.csv")

    assert [e.row for e in result.errors] == [3]
    assert "第2行" in result.errors[0].reason


def test_phone_taken_by_the_card_holders_neighbour_is_refused(
    session: Session, tree: dict[str, Organization], tmp_path: Path
) -> None:
    """A row whose card is one member's but whose phone is another's is refused, not swapped."""
    load(session, CLEAN_MEMBERS, tmp_path / "first.csv")
    session.commit()
    rows = [list(row) for row in CLEAN_MEMBERS[:2]]
    rows[1][MEMBER_HEADER.index("手机号")] = "13900139000"  # 李秀英's, on 王建国's card

    result = load(session, rows, tmp_path / "swap.csv")

    assert [e.row for e in result.errors] == [2]
    assert "李秀英" in result.errors[0].reason
    assert member(session, "+8613800138000").name == "王建国"


def test_file_without_a_required_column_is_refused_whole(session: Session, tmp_path: Path) -> None:
    """A register with no phone column cannot be read at all; the message names the column."""
    path = write_table((("姓名", "支部"), ("王建国", "东村党支部")), tmp_path / "nophone.csv")

    with pytest.raises(ImportFileError, match=r"phone \(手机号\)"):
        import_members(session, read_table(path))


def test_title_rows_above_the_header_are_passed_over(
    session: Session, tree: dict[str, Organization], tmp_path: Path
) -> None:
    """A register that opens with a title and a date line still finds its header."""
    rows = (("青山镇流动党员登记表",), ("2024年3月",), *CLEAN_MEMBERS[:2])

    result = load(session, rows, tmp_path / "titled.xlsx")

    assert (result.created, result.errors) == (1, [])


def test_empty_file_and_unknown_format_are_refused(session: Session, tmp_path: Path) -> None:
    """An empty file and a file that is neither CSV nor XLSX raise ImportFileError."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    other = tmp_path / "register.xls"
    other.write_bytes(b"\xd0\xcf\x11\xe0")

    with pytest.raises(ImportFileError, match="empty"):
        import_orgs(session, read_table(empty))
    with pytest.raises(ImportFileError, match=r"\.xls"):
        list(read_table(other))


def test_damaged_xlsx_is_refused(tmp_path: Path) -> None:
    """A file named .xlsx that is not a workbook gives ImportFileError, not a crash."""
    path = tmp_path / "broken.xlsx"
    path.write_text("姓名,手机号\n", encoding="utf-8")

    with pytest.raises(ImportFileError, match="cannot read"):
        list(read_table(path))


def test_csv_saved_by_chinese_excel_in_gb18030_is_read(tmp_path: Path) -> None:
    """A CSV in GB18030 (what Excel on a Chinese Windows saves) reads like a UTF-8 one."""
    path = tmp_path / "gbk.csv"
    path.write_bytes("姓名,手机号,支部\r\n王建国,13800138000,东村党支部\r\n".encode("gb18030"))

    assert list(read_table(path)) == [
        (1, ["姓名", "手机号", "支部"]),
        (2, ["王建国", "13800138000", "东村党支部"]),
    ]


def test_xlsx_cells_typed_as_numbers_and_dates_read_as_text(tmp_path: Path) -> None:
    """Numbers typed into Excel (a phone, a year) and date cells come back as plain text."""
    rows = (
        ("姓名", "手机号", "出生年份", "外出时间"),
        ("王建国", 13800138000, 1975.0, date(2015, 3, 1)),
    )

    table = list(read_table(write_table(rows, tmp_path / "typed.xlsx")))

    assert table[1] == (2, ["王建国", "13800138000", "1975", "2015-03-01"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("2024/3/1", date(2024, 3, 1)),
        ("2024.3", date(2024, 3, 1)),
        ("2024年3月", date(2024, 3, 1)),
        ("2024年3月15日", date(2024, 3, 15)),
        ("2024 年 3 月 15 号", date(2024, 3, 15)),
    ],
)
def test_dates_as_people_write_them(text: str, expected: date) -> None:
    """Dates with dashes, slashes, dots or 年月日, with or without the day."""
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2024", "2024-13-01", "2023-02-29", "三月", "03/01/2024", ""])
def test_impossible_dates_are_refused(text: str) -> None:
    """A date without a month, with month 13, a day that does not exist, or in words is refused."""
    with pytest.raises(ValueError):
        parse_date(text)


# Organisations


def load_orgs(session: Session, rows: Rows, path: Path) -> ImportResult:
    """Write rows to path and import them as the organisation list."""
    return import_orgs(session, read_table(write_table(rows, path)), timezone="Asia/Urumqi")


def orgs_by_name(session: Session) -> dict[str, Organization]:
    """Every organisation, by name."""
    return {o.name: o for o in session.scalars(select(Organization))}


@pytest.mark.parametrize("fmt", FORMATS)
def test_orgs_with_parents_later_in_the_file(session: Session, tmp_path: Path, fmt: str) -> None:
    """Branches may name a township that comes further down; the tree is built whole."""
    result = load_orgs(session, ORGS, tmp_path / f"orgs.{fmt}")
    session.commit()

    assert (result.created, result.updated, result.errors) == (4, 0, [])
    orgs = orgs_by_name(session)
    township = orgs["青山镇党委"]
    assert township.kind is OrgKind.TOWNSHIP
    assert township.parent_id is None
    assert orgs["东村党支部"].kind is OrgKind.BRANCH
    assert orgs["东村党支部"].parent_id == township.id
    assert orgs["西村党支部"].parent_id == township.id
    assert orgs[HOST].kind is OrgKind.HOST
    # A blank time zone takes the one given (the TIMEZONE setting in the command).
    assert orgs["东村党支部"].timezone == "Asia/Urumqi"
    assert township.timezone == "Asia/Shanghai"


def test_orgs_imported_again_change_nothing_and_a_new_parent_is_an_update(
    session: Session, tmp_path: Path
) -> None:
    """The same list twice changes nothing; moving a branch under another parent counts."""
    load_orgs(session, ORGS, tmp_path / "orgs.csv")
    session.commit()
    again = load_orgs(session, ORGS, tmp_path / "orgs.csv")
    moved = [list(row) for row in ORGS]
    moved.append(["红星镇党委", "township", "", ""])
    moved[2][2] = "红星镇党委"

    result = load_orgs(session, moved, tmp_path / "moved.csv")
    session.commit()

    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert (result.created, result.updated, result.unchanged) == (1, 1, 3)
    orgs = orgs_by_name(session)
    assert orgs["西村党支部"].parent_id == orgs["红星镇党委"].id
    # Imported earlier with the default, it keeps its zone when the cell is blank.
    assert orgs["西村党支部"].timezone == "Asia/Urumqi"


@pytest.mark.parametrize(
    ("row", "phrase"),
    [
        (("南村党支部", "village", "青山镇党委", ""), "未知类型"),
        (("南村党支部", "branch", "青山镇党委", "Mars/Olympus"), "未知时区"),
        (("南村党支部", "branch", "青山镇党委", "Asia"), "未知时区"),
        (("南村党支部", "branch", "北山镇党委", ""), "未知上级"),
        (("", "branch", "青山镇党委", ""), "缺少名称"),
        (("东村党支部", "branch", "青山镇党委", ""), "第2行重复"),
        (("南村党支部", "branch", "南村党支部", ""), "成环"),
    ],
)
def test_bad_org_rows_are_reported_and_nothing_is_written(
    session: Session, tmp_path: Path, row: tuple[str, ...], phrase: str
) -> None:
    """An unknown kind, a bad time zone, an unknown parent or a loop names its row."""
    rows = (*ORGS, row)

    result = load_orgs(session, rows, tmp_path / "bad.csv")

    assert [e.row for e in result.errors] == [6]
    assert phrase in result.errors[0].reason
    assert orgs_by_name(session) == {}


def test_parent_loop_across_rows_is_reported(session: Session, tmp_path: Path) -> None:
    """Two organisations that name each other as parent are both refused."""
    rows = (("名称", "类型", "上级"), ("甲", "branch", "乙"), ("乙", "branch", "甲"))

    result = load_orgs(session, rows, tmp_path / "loop.csv")

    assert [e.row for e in result.errors] == [2, 3]
