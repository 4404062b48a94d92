"""Survey questions asked by the reminders tick, run as a job by a real `rq worker`, sent
through the sandbox; a second question only once the first is answered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Channel, Member, Organization, period_of, record_report, utcnow
from models.survey import SurveyQuestion, read_survey
from models.survey_ops import add_survey, send_survey
from models.survey_sms import answer_by_sms
from models.targets import Target
from tests.factories import make_member, make_tree, open_window_now
from tests.gateway.sandbox_api import SandboxAPI
from tests.rq_worker import run_worker
from tests.workers.jobs import sent_to
from workers import reminders
from workers.queues import DEFAULT, enqueue

QUESTIONS = [
    {"text": "单位有党组织吗?", "kind": "choice", "choices": ["有", "没有", "不清楚"]},
    {"text": "您哪一年开始外出务工?", "kind": "number", "field": "departure_year"},
]


def _member(session: Session) -> tuple[Organization, Member]:
    township, branch, _ = make_tree(session)
    open_window_now(township)
    member = make_member(session, branch, name="王建国")
    period = period_of(utcnow(), township.timezone)
    record_report(session, member, period=period, studied=True, channel=Channel.SMS)
    session.commit()
    return township, member


def test_the_tick_in_a_real_worker_texts_one_question_at_a_time(
    session: Session, sandbox: SandboxAPI, app_config: dict[str, Any]
) -> None:
    """The tick job asks question 1 through the sandbox; run again, nothing until it is
    answered; then question 2."""
    township, member = _member(session)
    survey = add_survey(
        session,
        township,
        None,
        read_survey({"title": "问卷", "questions": QUESTIONS}),
        target=Target(),
    )
    send_survey(session, survey, utcnow())
    session.commit()
    enqueue(reminders.tick, queue=DEFAULT)
    run = run_worker(app_config)
    assert run.ran("workers.reminders.tick") == 1
    assert [m["body"] for m in sent_to(sandbox, member.phone)] == [
        "问卷(1/2)单位有党组织吗? 1有 2没有 3不清楚 回复数字"
    ]
    enqueue(reminders.tick, queue=DEFAULT)
    run_worker(app_config)
    assert len(sent_to(sandbox, member.phone)) == 1
    first = session.scalar(
        select(SurveyQuestion).where(
            SurveyQuestion.survey_id == survey.id, SurveyQuestion.position == 0
        )
    )
    assert first is not None
    assert answer_by_sms(session, member.id, survey.id, first.id, 3, utcnow())
    session.commit()
    enqueue(reminders.tick, queue=DEFAULT)
    run_worker(app_config)
    assert [m["body"] for m in sent_to(sandbox, member.phone)][-1] == (
        "问卷(2/2)您哪一年开始外出务工? 回复数字"
    )
