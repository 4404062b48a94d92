"""`flask survey ...`: surveys (三项调查) from the command line.

    flask survey results ID [--json]

`results --json` prints the survey's `recipients`, `responded` (answered at least one
question), `completed`, and per question its `text`, `kind` and `answers`: for a choice, a
count per option keyed by the option's digit as text ("1".."9", every option listed, with
`options` giving each digit's label); for a number, the list of values; for a text, the list of
texts (a spoken answer as "recording:<id>"), oldest first.
"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from infra.db import get_session
from models.reads.survey import results_json
from models.survey import Survey

survey_cli = AppGroup("survey", help="Surveys (三项调查, 五个摸清).")


@survey_cli.command("results")
@click.argument("survey_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the stable form).")
def results_command(survey_id: int, as_json: bool) -> None:
    """Print a survey's figures and each question's answers."""
    session = get_session()
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise click.ClickException(f"没有这个问卷 no survey with id {survey_id}")
    data = results_json(session, survey)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['title']} (#{survey_id}, {data['status']})")
    click.echo(
        f"recipients {data['recipients']} · responded {data['responded']} · "
        f"completed {data['completed']}"
    )
    for question in data["questions"]:  # type: ignore[attr-defined]
        click.echo(f"{question['position']}. {question['text']}")
        answers = question["answers"]
        if isinstance(answers, dict):
            options = question.get("options", {})
            for digit, count in answers.items():
                click.echo(f"   {digit} {options.get(digit, '')}: {count}")
        else:
            click.echo(f"   {len(answers)} answers" + (f": {answers[:10]}" if answers else ""))


__all__ = ["survey_cli"]
