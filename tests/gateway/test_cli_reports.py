"""`flask reports export`: one CSV row per active member of an organisation's tree."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from models import Channel, Member, record_report
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
