"""Registers and organisation lists for the import tests, written as CSV or XLSX at run time.

Spreadsheets are built by the tests rather than kept as binary files in git: the rows
below are the whole truth of what a test imports.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from openpyxl import Workbook

Cell = str | int | float | date | None
Rows = Sequence[Sequence[Cell]]

HOST = "广州白云区流动党员党支部"

# Branches before their township: parents may come later in the file.
ORGS: Rows = (
    ("名称", "类型", "上级", "时区"),
    ("东村党支部", "支部", "青山镇党委", ""),
    ("西村党支部", "branch", "青山镇党委", ""),
    (HOST, "流入地党组织", "", "Asia/Shanghai"),
    ("青山镇党委", "township", "", "Asia/Shanghai"),
)

MEMBER_HEADER = (
    "姓名",
    "手机号",
    "支部",
    "党员类别",
    "性别",
    "出生年份",
    "文化程度",
    "职业",
    "行业",
    "工作单位",
    "所在城市",
    "省份",
    "外出时间",
    "外出原因",
    "活动证号",
    "语言",
    "流入地党组织",
)
# The branches are those of tests.factories.make_tree; HOST must exist too.
# fmt: off
CLEAN_MEMBERS: Rows = (
    MEMBER_HEADER,
    ("王建国", "13800138000", "东村党支部", "正式", "男", "1975", "初中", "普工", "制造业",
     "电子厂", "广州", "广东", "2015-03-01", "务工", "LD0001", "中文", HOST),
    ("李秀英", "139-0013-9000", "东村党支部", "预备", "女", "1988", "高中", "快递员", "物流",
     "顺丰速运", "杭州", "浙江", "2019年5月", "务工", "LD0002", "", ""),
    ("张志强", "+86 150 0015 0000", "西村党支部", "full", "M", "1990", "", "", "",
     "", "深圳", "广东", "", "", "", "english", ""),
)
# fmt: on

# Every kind of trouble a register kept by hand has, with the row each error must name.
# A title row above the header, blank rows, full-width digits; MESSY_ERRORS lists the
# bad rows (row number, a phrase of the reason). TAKEN_PHONE belongs to a member who is
# already in the database under another name.
TAKEN_PHONE = "+8615000150000"
MESSY_MEMBERS: Rows = (
    ("青山镇流动党员登记表",),
    ("姓名", "手机号码", "所属支部", "外出时间", "所在城市", "工作单位"),
    ("王建国", "１３８００１３８０００", "东村党支部", "2015-03-01", "广州", "电子厂"),  # 3: ok
    (),
    ("王建国", "138-0013-8000", "东村党支部", "", "", ""),  # 5: same phone as row 3
    ("刘德明", "13900139000", "北村党支部", "", "", ""),  # 6: no such branch
    ("", "13700137000", "东村党支部", "", "", ""),  # 7: no name
    ("陈春梅", "13600136000", "西村党支部", "2015-13-01", "", ""),  # 8: month 13
    ("杨海燕", "12345", "西村党支部", "", "", ""),  # 9: not a phone number
    ("黄国华", "150 0015 0000", "西村党支部", "", "", ""),  # 10: another member's phone
    (),
    ("李秀英", "＋８６ １３９ ００１３ ９０００", "东村党支部", "2019年5月", "杭州", ""),  # 12: ok
)
MESSY_ERRORS = (
    (5, "第3行重复"),
    (6, "未知支部"),
    (7, "缺少姓名"),
    (8, "日期无效"),
    (9, "手机号无效"),
    (10, "已属于其他党员"),
)


def write_table(rows: Rows, path: Path) -> Path:
    """Write rows as CSV (UTF-8 with a BOM, as Excel saves it) or XLSX, by the file's suffix.

    An empty row stays an empty line or an empty sheet row, so row numbers are those
    a secretary sees in Excel.
    """
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerows(rows)
        return path
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row_number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value not in (None, ""):
                sheet.cell(row=row_number, column=column, value=value)
    workbook.save(path)
    return path
