"""`flask survey`: surveys written as files and sent to a target, as notices are, and their
results.

    flask survey create --org NAME --file SURVEY.json [...] [--json]
    flask survey results ID [--json]

`results --json` prints the survey's `recipients`, `responded` (answered at least one
question), `completed`, and per question its `text`, `kind` and `answers`: for a choice, a
count per option keyed by the option's digit as text ("1".."9", every option listed, with
`options` giving each digit's label); for a number, the list of values; for a text, the list of
texts (a spoken answer as "recording:<id>"), oldest first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from infra.db import get_session
from models import OrgKind, User, find_org, utcnow
from models.reads.survey import results_json
from models.sms_templates import TemplateRules
from models.survey import Survey, SurveyError, read_survey
from models.survey_ops import add_survey, send_survey
from models.survey_sms import check_fits
from models.targets import TargetError, resolve_target

survey_cli = AppGroup("survey", help="Surveys (问卷调查) asked by SMS and keypad.")

BAD_INPUT = 2  # the exit code of a refused file or option, as click's own usage errors


def _refuse(zh: str, en: str) -> NoReturn:
    """Say what is wrong on stderr, in both languages, and stop with BAD_INPUT."""
    click.echo(f"错误 error: {zh} / {en}", err=True)
    raise SystemExit(BAD_INPUT)


def _read_file(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        _refuse(f"找不到文件 {path}", f"no such file: {path}")
    except (OSError, UnicodeDecodeError) as exc:
        _refuse(f"无法读取文件 {path}", f"cannot read {path}: {exc.__class__.__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _refuse(
            f"文件不是有效的JSON(第{exc.lineno}行第{exc.colno}列)",
            f"the file is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
        )


@survey_cli.command("create")
@click.option("--org", "org_name", required=True, help="The township or branch that sends it.")
@click.option("--file", "path", required=True, help="The survey as JSON (title, questions).")
@click.option("--target-branch", "branches", multiple=True, help="Only this branch (repeatable).")
@click.option("--host", "hosts", multiple=True, help="Only this host organisation.")
@click.option("--city", "cities", multiple=True, help="Only members in this city.")
@click.option("--industry", "industries", multiple=True, help="Only this industry.")
@click.option(
    "--nonresponders-of",
    "nonresponders_of",
    default=None,
    help="Only members who answered nothing of this earlier survey (its id).",
)
@click.option("--by-call", is_flag=True, help="Also ask by keypad calls.")
@click.option(
    "--remind-after",
    "remind_after",
    type=click.IntRange(1, 60),
    default=3,
    show_default=True,
    help="Days after sending to remind once those who have not finished.",
)
@click.option("--author", default=None, help="Username of the sender.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def survey_create(
    org_name: str,
    path: str,
    branches: tuple[str, ...],
    hosts: tuple[str, ...],
    cities: tuple[str, ...],
    industries: tuple[str, ...],
    nonresponders_of: str | None,
    by_call: bool,
    remind_after: int,
    author: str | None,
    as_json: bool,
) -> None:
    """Store a survey from a file and send it to the target; print its id and recipients.

    Members are asked by SMS, one question at a time, by the reminders tick (inside their
    contact window and their number's daily cap). A bad file is refused before anything is
    stored, with exit code 2.
    """
    draft_data = _read_file(path)
    try:
        draft = read_survey(draft_data)
        check_fits(draft, TemplateRules.from_config(current_app.config))
    except SurveyError as exc:
        _refuse(exc.zh, exc.en)
    session = get_session()
    org = find_org(session, org_name)
    if org is None or org.kind is OrgKind.HOST:
        _refuse(f"未知乡镇或支部:{org_name}", f"unknown township or branch: {org_name}")
    user = None
    if author is not None:
        user = session.scalar(select(User).where(User.username == author))
        if user is None:
            _refuse(f"未知用户:{author}", f"unknown user: {author}")
    spec: dict[str, Any] = {
        "branches": list(branches),
        "hosts": list(hosts),
        "cities": list(cities),
        "industries": list(industries),
        "survey_nonresponders": nonresponders_of,
    }
    try:
        target = resolve_target(session, org, spec)
        survey = add_survey(
            session,
            org,
            user,
            draft,
            target=target,
            by_sms=True,
            by_call=by_call,
            remind_after_days=remind_after,
        )
        recipients = send_survey(session, survey, utcnow())
    except (TargetError, SurveyError) as exc:
        session.rollback()
        _refuse(exc.zh, exc.en)
    session.commit()
    if as_json:
        click.echo(json.dumps({"id": survey.id, "recipients": recipients}))
    else:
        click.echo(survey.id)
        click.echo(f"已发给{recipients}人 sent to {recipients} members", err=True)


@survey_cli.command("results")
@click.argument("survey_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the stable form).")
def survey_results(survey_id: int, as_json: bool) -> None:
    """Print a survey's figures and each question's answers."""
    session = get_session()
    survey = session.get(Survey, survey_id)
    if survey is None:
        _refuse(f"没有这个问卷 {survey_id}", f"no survey with id {survey_id}")
    data = results_json(session, survey)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['title']} (#{survey_id}, {data['status']})")
    click.echo(
        f"recipients {data['recipients']} · responded {data['responded']} · "
        f"completed {data['completed']}"
    )
    questions: list[dict[str, Any]] = data["questions"]  # type: ignore[assignment]
    for question in questions:
        click.echo(f"{question['position']}. {question['text']}")
        answers = question["answers"]
        if isinstance(answers, dict):
            options = question.get("options", {})
            for digit, count in answers.items():
                click.echo(f"   {digit} {options.get(digit, '')}: {count}")
        else:
            shown = f": {answers[:10]}" if answers else ""
            click.echo(f"   {len(answers)} answers{shown}")
