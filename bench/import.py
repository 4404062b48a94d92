"""Benchmark of the member register import: a generated register as CSV and XLSX.

Run: .venv/bin/python bench/import.py [--rows 10000] [--seed 1] [--repeat 3]

For each format it prints the time to read and parse the file alone (the baseline), the
time of a dry run (read, parse and check every row against the database), the import
into a fresh migrated SQLite database, and a second import of the same file (which must
change nothing), with rows/s and the ratio of each to the baseline. Exits 1 if an import
takes 10 s or more or does not store every row.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import TypeVar

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.migrate import upgrade
from infra.db import make_engine
from models import Member
from models.register import chinese_header, import_members, import_orgs, read_table

T = TypeVar("T")
TARGET_SECONDS = 10.0
TOWNSHIP = "青山镇党委"
BRANCHES = tuple(
    f"{village}村党支部"
    for village in "东西南北上下前后新老大小河山石林桥塘湾岭"  # 20 villages of one township
)
HOSTS = (
    ("广州白云区流动党员党支部", "广州", "广东"),
    ("深圳宝安电子行业联合党支部", "深圳", "广东"),
    ("东莞长安镇社区党委", "东莞", "广东"),
    ("杭州萧山物流行业党支部", "杭州", "浙江"),
    ("苏州工业园区流动党员服务站党支部", "苏州", "江苏"),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "建国秀英志强桂兰海燕国华小龙春梅德明丽娟永红文斌玉兰金凤长江明辉晓东红霞俊杰淑珍亚军新民立平雪梅振华爱民桂芳宏伟春生"
CITIES = (
    ("广州", "广东"),
    ("深圳", "广东"),
    ("东莞", "广东"),
    ("佛山", "广东"),
    ("杭州", "浙江"),
    ("宁波", "浙江"),
    ("义乌", "浙江"),
    ("苏州", "江苏"),
    ("南京", "江苏"),
    ("上海", "上海"),
    ("北京", "北京"),
    ("天津", "天津"),
    ("厦门", "福建"),
    ("泉州", "福建"),
    ("武汉", "湖北"),
    ("成都", "四川"),
)
JOBS = (
    ("电子厂", "制造业", "普工"),
    ("富士康科技集团", "制造业", "技术员"),
    ("鞋厂", "制造业", "质检员"),
    ("顺丰速运", "物流", "快递员"),
    ("中建三局", "建筑业", "钢筋工"),
    ("家政服务公司", "服务业", "保洁员"),
    ("纺织厂", "制造业", "挡车工"),
    ("港口物流公司", "物流", "叉车司机"),
    ("餐饮公司", "餐饮", "厨师"),
    ("汽车配件厂", "制造业", "焊工"),
    ("装修公司", "建筑业", "木工"),
    ("个体经营", "商贸", "店主"),
)
EDUCATION = ("小学", "初中", "高中", "中专", "大专", "本科")
REASONS = ("务工", "经商", "随子女", "求学")
HEADER = chinese_header(
    "name",
    "phone",
    "branch",
    "status",
    "sex",
    "birth_year",
    "education",
    "occupation",
    "industry",
    "employer",
    "city",
    "province",
    "departure_date",
    "reason",
    "card_no",
    "host_org",
)


def _phone(rng: random.Random, index: int) -> str:
    """A unique mainland mobile number, written the various ways registers hold them."""
    prefix = rng.choice(("138", "139", "135", "150", "158", "186", "187", "188"))
    digits = f"{prefix}{index:08d}"
    style = index % 4
    if style == 1:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 2:
        return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    return digits


def generate_rows(count: int, seed: int) -> list[list[str]]:
    """The register: a header and `count` members with realistic names, branches and jobs."""
    rng = random.Random(seed)
    host_by_city = {city: name for name, city, _province in HOSTS}
    rows: list[list[str]] = [list(HEADER)]
    for index in range(1, count + 1):
        city, province = rng.choice(CITIES)
        employer, industry, occupation = rng.choice(JOBS)
        given_length = 1 if rng.random() < 0.3 else 2
        given = "".join(GIVEN[2 * rng.randrange(len(GIVEN) // 2) + k] for k in range(given_length))
        left = date(2008 + rng.randrange(17), rng.randrange(1, 13), rng.randrange(1, 29))
        rows.append(
            [
                rng.choice(SURNAMES) + given,
                _phone(rng, index),
                BRANCHES[index % len(BRANCHES)],
                "预备" if rng.random() < 0.08 else "正式",
                "女" if rng.random() < 0.3 else "男",
                str(1960 + rng.randrange(45)),
                rng.choice(EDUCATION),
                occupation,
                industry,
                f"{city}{employer}",
                city,
                province,
                left.strftime("%Y-%m-%d") if index % 3 else f"{left.year}年{left.month}月",
                rng.choice(REASONS),
                f"LD{index:07d}",
                host_by_city.get(city, ""),
            ]
        )
    return rows


def org_rows() -> list[tuple[int, list[str]]]:
    """The township, its branches and the host organisations, as import rows."""
    rows: list[list[str]] = [["名称", "类型", "上级"], [TOWNSHIP, "township", ""]]
    rows += [[name, "branch", TOWNSHIP] for name in BRANCHES]
    rows += [[name, "host", ""] for name, _city, _province in HOSTS]
    return list(enumerate(rows, start=1))


def write_csv(rows: list[list[str]], path: Path) -> None:
    """The register as a UTF-8 CSV with a BOM, as Excel saves it."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)


def write_xlsx(rows: list[list[str]], path: Path) -> None:
    """The register as an XLSX workbook, typed-in phone numbers stored as numbers.

    A normal (not write-only) workbook, so the sheet records its dimension as Excel's
    files do; without it openpyxl reads the whole sheet twice.
    """
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "登记卡"
    sheet.append(rows[0])
    for row in rows[1:]:
        cells: list[str | int] = list(row)
        if row[1].isdigit():
            cells[1] = int(row[1])  # Excel keeps a typed-in number as a number
        sheet.append(cells)
    workbook.save(path)


def fresh_database(directory: Path, name: str) -> str:
    """A new SQLite file migrated to head, holding the organisation tree."""
    url = f"sqlite:///{directory / name}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        result = import_orgs(session, org_rows())
        assert result.ok, result.errors
        session.commit()
    engine.dispose()
    return url


def timed(action: Callable[[], T]) -> tuple[float, T]:
    """Seconds an action takes, and what it returned."""
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def run_import(url: str, path: Path, *, dry_run: bool = False) -> tuple[int, int, int]:
    """Import a register file in one transaction, as `flask members import` does."""
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            result = import_members(session, read_table(path), dry_run=dry_run)
            if not result.ok:
                raise SystemExit(f"import failed: {result.errors[:5]}")
            if dry_run:
                session.rollback()
            else:
                session.commit()
            return result.created, result.updated, result.unchanged
    finally:
        engine.dispose()


def count_members(url: str) -> int:
    """How many members the database holds."""
    engine = make_engine(url)
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Member)) or 0
    engine.dispose()
    return count


def counts(result: tuple[int, int, int]) -> str:
    """created/updated/unchanged, as the command prints them."""
    return "created/updated/unchanged {}/{}/{}".format(*result)


def line(label: str, times: list[float], rows: int, baseline: float, note: str = "") -> str:
    """One row of the results: the best time of the trials, its rate and its ratio to the baseline."""
    best = min(times)
    return (
        f"  {label:<22} {best:7.2f} s  {rows / best:9,.0f} rows/s  {best / baseline:6.1f}x baseline"
        f"  (slowest {max(times):.2f} s)  {note}"
    )


def bench(kind: str, path: Path, directory: Path, rows: int, repeat: int) -> bool:
    """Time one file through parse, dry run, import and re-import; True if within target.

    Each trial imports into a new database; the best of the trials is shown, since on a
    shared machine other work only ever adds time.
    """
    size_kb = path.stat().st_size / 1024
    print(f"{kind.upper()}  ({rows:,} rows, {size_kb:,.0f} KiB, best of {repeat})")
    steps: dict[str, list[float]] = {"parse": [], "dry": [], "import": [], "again": []}
    ok = True
    for trial in range(repeat):
        url = fresh_database(directory, f"{kind}-{trial}.db")
        parse_s, parsed = timed(lambda: sum(1 for _ in read_table(path)))
        dry_s, dry = timed(partial(run_import, url, path, dry_run=True))
        import_s, first = timed(partial(run_import, url, path))
        again_s, second = timed(partial(run_import, url, path))
        for step, seconds in zip(steps, (parse_s, dry_s, import_s, again_s), strict=True):
            steps[step].append(seconds)
        stored = count_members(url)
        ok = ok and stored == rows and first == (rows, 0, 0) and second == (0, 0, rows)
    baseline = min(steps["parse"])
    print(line("read+parse (baseline)", steps["parse"], rows, baseline, f"{parsed:,} lines"))
    print(line("dry run (no writes)", steps["dry"], rows, baseline, counts(dry)))
    print(line("import", steps["import"], rows, baseline, counts(first)))
    print(line("import again", steps["again"], rows, baseline, counts(second)))
    best = min(steps["import"])
    ok = ok and best < TARGET_SECONDS
    verdict = "OK" if ok else "FAILED"
    print(
        f"  {verdict}: import {best:.2f} s for {stored:,} members (target < {TARGET_SECONDS:.0f} s)\n"
    )
    return ok


def main() -> int:
    """Generate the register, import it as CSV and as XLSX, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="trials per format (best shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        directory = Path(tmp)
        rows = generate_rows(args.rows, args.seed)
        csv_path, xlsx_path = directory / "register.csv", directory / "register.xlsx"
        write_csv(rows, csv_path)
        write_xlsx(rows, xlsx_path)
        results = [bench("csv", csv_path, directory, args.rows, args.repeat)]
        results.append(bench("xlsx", xlsx_path, directory, args.rows, args.repeat))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
