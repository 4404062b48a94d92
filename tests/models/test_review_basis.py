"""The yearly review's basis (四带头, 三比) against a year of data: study, work, contribution,
the rating and the exemplary mark; the branches compared; `flask review export`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from models import (
    ChangeField,
    ChangeSource,
    HelpCategory,
    HelpStatus,
    Lesson,
    LessonCategory,
    LessonListen,
    Member,
    MemberChange,
    Role,
    open_help_request,
    record_report,
)
from models.deed import (
    DeedError,
    TipTopic,
    decide_deed,
    mark_exemplar,
    record_deed,
    unmark_exemplar,
)
from models.rating import Grade, rate_member
from models.reads.deeds import branch_activities
from models.reads.review import BASIS_HEADER, basis_rows, yearly_review
from models.report import Channel
from models.scope import Scope, scope_for
from tests.factories import make_member, make_tree, make_user

YEAR = 2025


def at(month: int, day: int = 10, year: int = YEAR) -> datetime:
    """Noon UTC on a day of the review's year (evening in the township)."""
    return datetime(year, month, day, 4, tzinfo=UTC)


class Year:
    """A branch with Wang, who had a full year, and Li, who had none."""

    def __init__(self, session: Session) -> None:
        township, east, west = make_tree(session)
        self.east, self.west = east, west
        self.user = make_user(session, township, Role.TOWNSHIP)
        self.wang = make_member(
            session, east, name="王强", created_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
        self.li = make_member(
            session, east, name="李明", created_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
        self.zhao = make_member(
            session, west, name="赵亮", created_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
        wang = self.wang
        # Work: ten months reported, two of them after the month had ended; six studied.
        for month in range(1, 11):
            late = month >= 9
            received = at(month + 1, 3) if late else at(month, 20)
            record_report(
                session,
                wang,
                period=f"{YEAR}-{month:02d}",
                studied=month <= 6,
                channel=Channel.SMS,
                at=received,
            )
        # Study: three lessons heard, 1025 seconds (17 whole minutes); one in the year before.
        lesson = Lesson(org_id=township.id, title="新农保", category=LessonCategory.POLICY)
        session.add(lesson)
        session.flush()
        for seconds, when in ((600, at(3)), (300, at(7)), (125, at(12, 1)), (999, at(12, 1, 2024))):
            session.add(
                LessonListen(
                    member_id=wang.id, lesson_id=lesson.id, seconds=seconds, listened_at=when
                )
            )
        # Status kept current: two changes he sent himself; one by the branch does not count.
        for source in (ChangeSource.SMS, ChangeSource.IVR, ChangeSource.ADMIN):
            session.add(
                MemberChange(
                    member_id=wang.id,
                    field=ChangeField.CITY,
                    old_value="广州",
                    new_value="深圳",
                    source=source,
                    changed_at=at(5),
                )
            )
        # Help: one request resolved in the year, one still open.
        for status in (HelpStatus.RESOLVED, HelpStatus.OPEN):
            request = open_help_request(
                session,
                wang,
                category=HelpCategory.WAGES,
                text="欠薪",
                channel=Channel.SMS,
                at=at(4),
            )
            if status is HelpStatus.RESOLVED:
                request.status, request.resolved_at = status, at(6)
        # Contribution: two jobs found and a tip confirmed, heard 7 times; a declined good
        # deed, a waiting one, and one confirmed the year before.
        deeds = [
            (4, at(2), True),
            (4, at(8), True),
            (1, at(9), True),
            (5, at(10), False),
            (2, at(11), None),
            (4, at(11, 1, 2024), True),
        ]
        for item, when, confirm in deeds:
            deed = record_deed(
                session,
                member=wang,
                item=item,
                text="做了好事",
                channel=Channel.SMS,
                at=when,
                topic=TipTopic.JOBS if item == 1 else None,
            )
            if confirm is not None:
                decide_deed(
                    session,
                    deed,
                    confirm=confirm,
                    reason="" if confirm else "不属实",
                    user_id=self.user.id,
                    user_member_id=None,
                    org_id=east.id,
                )
            if item == 1:
                deed.listens = 7
        # Zhao in the west branch: one good deed confirmed.
        other = record_deed(
            session, member=self.zhao, item=5, text="修路", channel=Channel.SMS, at=at(3)
        )
        decide_deed(
            session,
            other,
            confirm=True,
            reason="",
            user_id=self.user.id,
            user_member_id=None,
            org_id=west.id,
        )
        rate_member(
            session, wang.id, YEAR, Grade.EXCELLENT, "带头致富", self.user.id, now=at(12, 20)
        )
        rate_member(
            session, self.li.id, YEAR, Grade.QUALIFIED, "按时汇报", self.user.id, now=at(12, 20)
        )
        mark_exemplar(session, wang.id, YEAR, "帮三名同乡找到工作", self.user.id, now=at(12, 21))
        session.commit()

    def scope(self, session: Session) -> Scope:
        """The township office's view."""
        return scope_for(session, self.user)


@pytest.fixture
def year(session: Session) -> Year:
    return Year(session)


def test_the_review_row_carries_study_work_and_contribution(session: Session, year: Year) -> None:
    """Every figure of Wang's year, each against what the year's data says."""
    rows = {r.member.id: r for r in yearly_review(session, year.scope(session), YEAR).items}
    wang = rows[year.wang.id]
    assert (wang.reports, wang.studied, wang.on_time, wang.due) == (10, 6, 8, 12)
    assert (wang.lessons, wang.lesson_minutes) == (3, 17)
    assert (wang.status_updates, wang.help_resolved) == (2, 1)
    assert wang.contribution.deeds == {4: 2, 1: 1}
    assert (wang.contribution.tips, wang.contribution.tip_listens) == (1, 7)
    assert wang.contribution.total == 3
    assert wang.rating is not None and wang.rating.grade is Grade.EXCELLENT
    assert wang.rater and wang.exemplar is not None and wang.exemplar.reason == "帮三名同乡找到工作"
    li = rows[year.li.id]
    assert (li.reports, li.on_time, li.lesson_minutes, li.contribution.total) == (0, 0, 0, 0)
    assert li.exemplar is None


def test_the_basis_rows_follow_the_header(session: Session, year: Year) -> None:
    """One row per member, in the header's order, the rating in Chinese."""
    rows = list(basis_rows(session, year.scope(session), YEAR))
    by_name = {row[1]: dict(zip(BASIS_HEADER, row, strict=True)) for row in rows}
    assert by_name["王强"] == {
        "phone": year.wang.phone,
        "name": "王强",
        "branch": "东村党支部",
        "year": YEAR,
        "reports": 10,
        "studied_months": 6,
        "lesson_minutes": 17,
        "deeds": 3,
        "tips": 1,
        "rating": "优秀",
    }
    assert by_name["赵亮"]["rating"] == "" and by_name["赵亮"]["deeds"] == 1


def test_the_branches_compared(session: Session, year: Year) -> None:
    """Per branch: members, those with a confirmed deed, deeds per item, tips, the ratings'
    spread and the exemplary marks."""
    scope = year.scope(session)
    names = {year.east.id: year.east.name, year.west.id: year.west.name}
    rows = {
        r.branch_id: r for r in branch_activities(session, scope, YEAR, at(1, 1), at(12, 31), names)
    }
    east, west = rows[year.east.id], rows[year.west.id]
    assert (east.members, east.active_members, east.active_share) == (2, 1, 0.5)
    assert east.deeds == {1: 1, 2: 0, 3: 0, 4: 2, 5: 0}
    assert (east.tips, east.tip_listens, east.exemplars) == (1, 7, 1)
    assert east.grades == {
        "excellent": 1,
        "qualified": 1,
        "basically_qualified": 0,
        "unqualified": 0,
    }
    assert (west.members, west.active_members, west.deeds[5], west.tips) == (1, 1, 1, 0)


def test_an_exemplary_mark_needs_a_reason_and_can_be_taken_away(
    session: Session, year: Year
) -> None:
    """No reason: refused. Marking again changes the reason; unmarking removes it."""
    with pytest.raises(DeedError):
        mark_exemplar(session, year.li.id, YEAR, "  ", year.user.id)
    mark = mark_exemplar(session, year.wang.id, YEAR, "新的理由", year.user.id)
    assert mark.reason == "新的理由"
    assert unmark_exemplar(session, year.wang.id, YEAR) is True
    assert unmark_exemplar(session, year.wang.id, YEAR) is False


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_flask_review_export(
    runner: FlaskCliRunner, year: Year, tmp_path: Path, suffix: str
) -> None:
    """`flask review export --year --out`: the header, and Wang's row, as CSV or XLSX."""
    out = tmp_path / f"review{suffix}"
    result = runner.invoke(args=["review", "export", "--year", str(YEAR), "--out", str(out)])
    assert result.exit_code == 0, result.output
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    else:
        sheet = load_workbook(out).active
        assert sheet is not None
        rows = [
            [("" if v is None else str(v)) for v in row]
            for row in sheet.iter_rows(values_only=True)
        ]
    assert rows[0] == list(BASIS_HEADER)
    wang = next(row for row in rows if row[1] == "王强")
    assert wang[3:] == [str(YEAR), "10", "6", "17", "3", "1", "优秀"]
    assert len(rows) == 4  # the header and three members


@pytest.mark.parametrize(
    "args",
    [
        ["--year", "1999"],
        ["--year", "twenty"],
        ["--year", "2025", "--out", "x.pdf"],
        ["--year", "2025", "--org", "没有这个镇"],
        [],
    ],
)
def test_flask_review_export_refuses_bad_input(
    runner: FlaskCliRunner, year: Year, args: list[str]
) -> None:
    """A year out of range or not a number, another file type, an unknown organisation or no
    year: a clear error, no traceback."""
    result = runner.invoke(args=["review", "export", *args])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_member_is_not_in_another_townships_export(session: Session, year: Year) -> None:
    """The export of one branch has that branch's members only."""
    from models.scope import org_scope

    rows = list(basis_rows(session, org_scope(session, year.west), YEAR))
    assert [row[1] for row in rows] == ["赵亮"]
    assert isinstance(year.wang, Member)
