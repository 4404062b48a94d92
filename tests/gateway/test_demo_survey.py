"""The demo township carries a 五个摸清 survey about half answered by SMS, so the results
page has data after `make run`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devtools.demo import load_demo
from models import ChangeSource, Direction, MemberChange, Message
from models.survey import Survey, SurveyAnswer, SurveyRecipient, SurveyStatus


def test_the_demo_survey_is_about_half_answered(session: Session) -> None:
    """Sent to every member; 30-70% answered something, some all of it, each answer a stored
    text of the member's, and the card's history names the survey."""
    members = load_demo(session)
    session.commit()
    survey = session.scalar(select(Survey))
    assert survey is not None
    assert survey.status is SurveyStatus.OPEN
    assert survey.recipients == members
    started = session.scalar(
        select(func.count()).where(
            SurveyRecipient.survey_id == survey.id, SurveyRecipient.started_at.is_not(None)
        )
    )
    completed = session.scalar(
        select(func.count()).where(
            SurveyRecipient.survey_id == survey.id, SurveyRecipient.completed_at.is_not(None)
        )
    )
    assert started is not None and completed is not None
    assert 0.3 * members <= started <= 0.7 * members
    assert 0 < completed < started
    answers = session.scalar(select(func.count()).select_from(SurveyAnswer)) or 0
    texts = session.scalar(
        select(func.count()).where(Message.direction == Direction.IN, Message.command == "survey")
    )
    assert answers == texts and answers > started
    history = session.scalar(
        select(func.count()).where(
            MemberChange.source == ChangeSource.SURVEY, MemberChange.survey_id == survey.id
        )
    )
    assert history and history > 0
