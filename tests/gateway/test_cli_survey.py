"""`flask survey create`: a survey file sent to a target; bad files refused with exit code 2
and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Member, utcnow
from models.survey import Survey, SurveyQuestion, SurveyRecipient, SurveyStatus
from models.survey_ready import READY_MADE
from models.survey_sms import answer_by_sms
from tests.factories import make_member, make_tree


@pytest.fixture
def members(session: Session) -> list[Member]:
    """Three members of 东村 (two in 广州, one in 深圳) and one of 西村 in 广州."""
    _, east, west = make_tree(session)
    found = [
        make_member(session, east, city="广州"),
        make_member(session, east, city="广州"),
        make_member(session, east, city="深圳"),
        make_member(session, west, city="广州"),
    ]
    session.commit()
    return found


def create(runner: FlaskCliRunner, path: Path | str, *options: str) -> Any:
    """Run `flask survey create` for the township with this file."""
    return runner.invoke(
        args=["survey", "create", "--org", "青山镇", "--file", str(path), *options]
    )


def surveys(session: Session) -> int:
    """How many surveys are stored."""
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Survey)) or 0


def test_the_ready_made_survey_is_created_and_sent(
    session: Session, runner: FlaskCliRunner, members: list[Member]
) -> None:
    """--json prints the id and the recipients; the survey is open with its twelve questions."""
    result = create(runner, READY_MADE, "--json", "--remind-after", "5", "--by-call")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["recipients"] == 4
    survey = session.get(Survey, printed["id"])
    assert survey is not None
    assert (survey.status, survey.remind_after_days, survey.by_call) == (
        SurveyStatus.OPEN,
        5,
        True,
    )
    count = select(func.count()).where(SurveyQuestion.survey_id == survey.id)
    assert session.scalar(count) == 12


def test_targets_narrow_the_recipients(
    session: Session, runner: FlaskCliRunner, members: list[Member], tmp_path: Path
) -> None:
    """--target-branch and --city narrow as for notices; --nonresponders-of takes those of an
    earlier survey who answered nothing."""
    result = create(runner, READY_MADE, "--json", "--target-branch", "东村党支部", "--city", "广州")
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)
    assert first["recipients"] == 2
    question = session.scalar(
        select(SurveyQuestion).where(
            SurveyQuestion.survey_id == first["id"], SurveyQuestion.position == 0
        )
    )
    assert question is not None
    assert answer_by_sms(session, members[0].id, first["id"], question.id, 2015, utcnow())
    session.commit()
    again = create(runner, READY_MADE, "--json", "--nonresponders-of", str(first["id"]))
    assert again.exit_code == 0, again.output
    second = json.loads(again.output)
    assert second["recipients"] == 1
    asked = session.scalars(
        select(SurveyRecipient.member_id).where(SurveyRecipient.survey_id == second["id"])
    ).all()
    assert asked == [members[1].id]


def _file(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "survey.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


CHOICE = {"text": "单位有党组织吗?", "kind": "choice", "choices": ["有", "没有"]}


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ([1, 2], "a survey must be an object"),
        ({"title": "空问卷", "questions": []}, "no questions"),
        ({"title": "", "questions": [CHOICE]}, "the text is missing"),
        (
            {"title": "多选", "questions": [{**CHOICE, "choices": [str(i) for i in range(10)]}]},
            "more than 9 options",
        ),
        ({"title": "无选项", "questions": [{**CHOICE, "choices": []}]}, "needs options"),
        ({"title": "字段", "questions": [{**CHOICE, "field": "salary"}]}, "no field 'salary'"),
        ({"title": "类型", "questions": [{**CHOICE, "kind": "date"}]}, "kind must be"),
        (
            {"title": "太长", "questions": [{**CHOICE, "text": "您的工作单位" * 10}]},
            "over one segment",
        ),
    ],
)
def test_a_bad_file_is_refused_with_exit_code_2(
    session: Session,
    runner: FlaskCliRunner,
    members: list[Member],
    tmp_path: Path,
    data: Any,
    said: str,
) -> None:
    """Each bad file gets a bilingual message naming the problem; nothing is stored."""
    result = create(runner, _file(tmp_path, data), "--json")
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "Traceback" not in result.output
    assert surveys(session) == 0


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("--target-branch", "南村党支部"), "Unknown branch"),
        (("--nonresponders-of", "999"), "Unknown survey"),
        (("--nonresponders-of", "abc"), "Unknown survey"),
        (("--remind-after", "0"), "--remind-after"),
    ],
)
def test_bad_options_are_refused(
    session: Session,
    runner: FlaskCliRunner,
    members: list[Member],
    options: tuple[str, ...],
    said: str,
) -> None:
    """An unknown branch or survey, or a reminder delay out of range: exit 2, nothing stored."""
    result = create(runner, READY_MADE, *options)
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert surveys(session) == 0


def test_a_missing_file_and_an_unknown_org(
    session: Session, runner: FlaskCliRunner, members: list[Member], tmp_path: Path
) -> None:
    """A file that is not there, an organisation that is not: exit 2, nothing stored."""
    missing = create(runner, tmp_path / "none.json")
    assert (missing.exit_code, "no such file" in missing.output) == (2, True)
    unknown = runner.invoke(args=["survey", "create", "--org", "白云镇", "--file", str(READY_MADE)])
    assert (unknown.exit_code, "unknown township or branch" in unknown.output) == (2, True)
    assert surveys(session) == 0
