"""Survey calls from the campaign tick: inside the member's window, once a day, at most
SURVEY_CALLS times a survey; never to the opted-out or to those who finished; a survey asked
by SMS too calls only those whose text has waited a day; no calls under a mainland provider."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Call, Member, Organization, OrgKind, opt_out, utcnow
from models.call import CallPurpose
from models.survey import SurveyRecipient, read_survey
from models.survey_ops import add_survey, send_survey
from models.targets import Target
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI
from workers import campaigns
from workers.survey_calls import SURVEY_CALLS, place_survey_calls

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFINITION = {
    "title": "五个摸清",
    "questions": [{"text": "外出原因?", "kind": "choice", "choices": ["务工", "经商"]}],
}


def _window_start() -> datetime:
    """A window start three hours from now, so that a tick at the real time calls nobody."""
    local = utcnow().astimezone(SHANGHAI) + timedelta(hours=3)
    return local.replace(minute=0, second=0, microsecond=0)


def _members(session: Session, count: int, start: datetime) -> list[Member]:
    _, branch, _ = make_tree(session)
    window = (start.strftime("%H:%M"), (start + timedelta(hours=1)).strftime("%H:%M"))
    return [
        make_member(session, branch, window_start=window[0], window_end=window[1])
        for _ in range(count)
    ]


def _send(session: Session, *, by_sms: bool) -> int:
    org = session.scalars(select(Organization).where(Organization.kind == OrgKind.TOWNSHIP)).one()
    survey = add_survey(
        session, org, None, read_survey(DEFINITION), target=Target(), by_sms=by_sms, by_call=True
    )
    send_survey(session, survey, utcnow() - timedelta(hours=1))
    session.commit()
    return survey.id


def _survey_calls(session: Session) -> list[int | None]:
    session.expire_all()
    return [
        call.member_id
        for call in session.scalars(
            select(Call).where(Call.purpose == CallPurpose.SURVEY).order_by(Call.id)
        )
    ]


def test_survey_calls_in_the_window_once_a_day_never_to_the_opted_out(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    start = _window_start()
    asked, leaves, finished = _members(session, 3, start)
    survey_id = _send(session, by_sms=False)
    opt_out(session, leaves)
    done = session.scalars(
        select(SurveyRecipient).where(SurveyRecipient.member_id == finished.id)
    ).one()
    done.completed_at = utcnow()
    session.commit()

    def tick(at: datetime) -> None:
        campaigns.campaign_tick(at.isoformat())
        work()

    tick(utcnow())  # outside every window
    assert _survey_calls(session) == []
    tick(start + timedelta(minutes=5))
    assert _survey_calls(session) == [asked.id]
    assert [c["to"] for c in sandbox.get("/_sandbox/calls")] == [asked.phone]
    tick(start + timedelta(minutes=30))  # the same day: not again
    assert _survey_calls(session) == [asked.id]
    for day in range(1, SURVEY_CALLS + 1):
        tick(start + timedelta(days=day, minutes=5))
    assert _survey_calls(session) == [asked.id] * SURVEY_CALLS  # at most SURVEY_CALLS
    assert survey_id


def test_by_sms_too_the_call_waits_for_the_text_to_go_unanswered(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    start = _window_start()
    waited, fresh, never = _members(session, 3, start)
    _send(session, by_sms=True)
    at = start + timedelta(minutes=5)
    for member, asked_at in ((waited, at - timedelta(days=2)), (fresh, at - timedelta(hours=2))):
        row = session.scalars(
            select(SurveyRecipient).where(SurveyRecipient.member_id == member.id)
        ).one()
        row.asked_at = asked_at
    session.commit()
    campaigns.campaign_tick(at.isoformat())
    work()
    assert _survey_calls(session) == [waited.id]
    assert never.id not in _survey_calls(session)


def test_no_survey_calls_under_a_provider_without_a_live_ivr(app: Flask, session: Session) -> None:
    start = _window_start()
    _members(session, 1, start)
    _send(session, by_sms=False)
    app.config["PROVIDER"] = "aliyun"
    counts = place_survey_calls(session, lambda member: None, start + timedelta(minutes=5))  # type: ignore[arg-type,return-value]
    assert not counts and _survey_calls(session) == []
