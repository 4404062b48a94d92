"""The township the month test runs: three branches, 60 members, the staff who serve them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

TOWNSHIP = "青山镇党委"
BRANCHES = ("东村党支部", "西村党支部", "南村党支部")
HOST = "广州白云区流动党员党支部"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("建国", "秀英", "志强", "桂兰", "海燕", "国华")
CITIES = (("广州", "广东", "电子厂"), ("深圳", "广东", "富士康"), ("杭州", "浙江", "快递公司"))
MEMBERS_PER_BRANCH = 20
# The liaison of 东村 looks after its first ten members; every other member has none.
LIAISON = ("lihong", "李红")
STAFF = (
    ("township", "township", TOWNSHIP, "镇远程办"),
    ("dongcun", "branch", BRANCHES[0], "东村支书"),
    ("xicun", "branch", BRANCHES[1], "西村支书"),
    ("nancun", "branch", BRANCHES[2], "南村支书"),
    (LIAISON[0], "liaison", BRANCHES[0], LIAISON[1]),
)


@dataclass(frozen=True)
class Person:
    """One member of the register, numbered from 1 to 60."""

    number: int
    name: str
    phone: str
    branch: str
    city: str
    employer: str
    has_liaison: bool


def people() -> list[Person]:
    """The 60 members, 20 a branch; member n has the phone +86138001000nn."""
    result = []
    for index in range(len(BRANCHES) * MEMBERS_PER_BRANCH):
        number = index + 1
        branch = BRANCHES[index // MEMBERS_PER_BRANCH]
        city, _province, employer = CITIES[index % len(CITIES)]
        name = SURNAMES[index % len(SURNAMES)] + GIVEN[index // len(SURNAMES) % len(GIVEN)]
        result.append(
            Person(
                number=number,
                name=name + ("" if index < 40 else "二"),
                phone=f"+86138001000{number:02d}",
                branch=branch,
                city=city,
                employer=employer,
                has_liaison=branch == BRANCHES[0] and (index % MEMBERS_PER_BRANCH) < 10,
            )
        )
    return result


def write_files(directory: Path) -> tuple[Path, Path]:
    """The organisation list and the register, as a township office keeps them (CSV)."""
    orgs = directory / "orgs.csv"
    with orgs.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("名称", "类型", "上级", "时区"))
        writer.writerow((TOWNSHIP, "township", "", "Asia/Shanghai"))
        for branch in BRANCHES:
            writer.writerow((branch, "branch", TOWNSHIP, ""))
        writer.writerow((HOST, "host", "", "Asia/Shanghai"))
    register = directory / "register.csv"
    with register.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("姓名", "手机号", "支部", "所在城市", "工作单位", "联络员"))
        for person in people():
            liaison = LIAISON[0] if person.has_liaison else ""
            writer.writerow(
                (person.name, person.phone, person.branch, person.city, person.employer, liaison)
            )
    return orgs, register
