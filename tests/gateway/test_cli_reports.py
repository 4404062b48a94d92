"""`flask reports export`: one row per active member of an organisation's tree, CSV or XLSX."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Channel, Member, record_report
from models.audit import AuditLog
from models.exports import REPORT_HEADER
from tests.factories import make_member, make_tree


def export(runner: FlaskCliRunner, *args: str) -> list[dict[str, str]]:
    """Run the export and parse its CSV."""
    result = runner.invoke(args=["reports", "export", *args])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_export_lists_every_active_member_with_their_report(
    runner: FlaskCliRunner, session: Session
) -> None:
    """Reported members show their report; others show reported=no; inactive ones are left out."""
    township, east, west = make_tree(session)
    reporter = make_member(session, east, name="李明")
    silent = make_member(session, west, name="赵强")
    make_member(session, east, name="已故", active=False)
    record_report(
        session, reporter, period="2026-10", studied=True, channel=Channel.SMS, city="深圳"
    )
    session.commit()
    rows = export(runner, "--period", "2026-10", "--org", township.name)
    assert list(rows[0]) == list(REPORT_HEADER)
    by_phone = {r["phone"]: r for r in rows}
    assert set(by_phone) == {reporter.phone, silent.phone}
    row = by_phone[reporter.phone]
    assert (row["reported"], row["studied"], row["city"], row["channel"]) == (
        "yes",
        "yes",
        "深圳",
        "sms",
    )
    assert len(row["receipt"]) == 6
    assert by_phone[silent.phone]["reported"] == "no"


def test_export_of_one_branch_and_to_a_file(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """--org narrows to a branch; --out writes the file."""
    _, east, west = make_tree(session)
    mine: Member = make_member(session, east)
    make_member(session, west)
    session.commit()
    out = tmp_path / "r.csv"
    result = runner.invoke(
        args=["reports", "export", "--period", "2026-11", "--org", east.name, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["phone"] for r in rows] == [mine.phone]


def test_bad_period_and_unknown_org_are_clear_errors(runner: FlaskCliRunner) -> None:
    """A malformed period or an unknown organisation exits non-zero with a message."""
    bad = runner.invoke(args=["reports", "export", "--period", "2026-13"])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output
    unknown = runner.invoke(args=["reports", "export", "--period", "2026-11", "--org", "无此村"])
    assert unknown.exit_code != 0 and "无此村" in unknown.output


def test_xlsx_export_is_a_real_workbook(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """--out x.xlsx writes an Excel workbook (not CSV text) with the same header and rows."""
    _, east, _ = make_tree(session)
    member = make_member(session, east, name="李明")
    record_report(
        session, member, period="2026-10", studied=False, channel=Channel.IVR, city="东莞"
    )
    session.commit()
    out = tmp_path / "x.xlsx"
    result = runner.invoke(args=["reports", "export", "--period", "2026-10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] == b"PK"  # a zip container, as every .xlsx is
    sheet = load_workbook(out, read_only=True).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(rows[0]) == REPORT_HEADER
    assert [rows[1][i] for i in (0, 1, 3, 4, 5, 6, 8)] == [
        member.phone,
        "李明",
        "2026-10",
        "yes",
        "no",
        "东莞",
        "ivr",
    ]
    assert len(rows) == 2


def test_unknown_extension_is_refused_and_nothing_written(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """An --out that is neither .csv nor .xlsx is a clear error; no file appears."""
    make_tree(session)
    session.commit()
    for name in ("x.xls", "x.txt", "x"):
        out = tmp_path / name
        result = runner.invoke(args=["reports", "export", "--period", "2026-10", "--out", str(out)])
        assert result.exit_code != 0
        assert ".csv or .xlsx" in result.output
        assert not out.exists()
    assert session.scalar(select(func.count(AuditLog.id))) == 0


def test_every_cli_export_is_audited(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """A CLI export, to a file or to the screen, writes one audit entry: what, how many, where."""
    township, east, _ = make_tree(session)
    make_member(session, east)
    session.commit()
    export(runner, "--period", "2026-10", "--org", township.name)
    out = tmp_path / "r.xlsx"
    result = runner.invoke(args=["reports", "export", "--period", "2026-09", "--out", str(out)])
    assert result.exit_code == 0, result.output
    session.expire_all()
    entries = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(e.action, e.target, e.user_id) for e in entries] == [
        ("export", "reports:2026-10:csv", None),
        ("export", "reports:2026-09:xlsx", None),
    ]
    assert entries[0].detail == {"rows": 1, "org": township.name, "out": "-", "via": "cli"}
    assert entries[1].detail is not None and entries[1].detail["out"] == str(out)
