"""Survey calls (三项调查 by keypad): for each open survey asked by call, a member who has not
finished is called inside their contact window, at most once a day and SURVEY_CALLS times a
survey; the call asks from the member's next question (`ivr_flows.survey`). A survey asked by
SMS as well calls only those whose question has waited a day without an answer. Opted-out
members, members who left and invalid numbers are not called. Run by the campaign tick.

Only a provider with a live IVR (Twilio, or the sandbox's copy of it) can ask a survey: the
mainland providers play one approved prompt and take one key, so no survey call is placed
under them (their members answer by SMS).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from models import Call, Member
from models.call import CallPurpose
from models.cycle import CycleRules, in_busy_season, may_contact, may_place_call
from models.survey import Survey, SurveyRecipient, SurveyStatus
from models.voice import queue_outbound_call
from workers.calls import enqueue_call

BATCH = 500  # survey calls queued per tick at most
SURVEY_CALL_GAP = timedelta(hours=20)  # one survey call a day
SURVEY_CALLS = 3  # calls a member gets for one survey at most
SMS_FIRST = timedelta(days=1)  # by SMS and call: the text's question waits this long first
LIVE_IVR_PROVIDERS = frozenset({"twilio", "sandbox"})


def place_survey_calls(
    session: Session, rules_of: Callable[[Member], CycleRules], now: datetime
) -> Counter[str]:
    """Queue the survey calls that are due now; counts by outcome."""
    counts: Counter[str] = Counter()
    if str(current_app.config["PROVIDER"]) not in LIVE_IVR_PROVIDERS:
        return counts
    recent = exists().where(
        Call.member_id == SurveyRecipient.member_id,
        Call.purpose == CallPurpose.SURVEY,
        Call.created_at > now - SURVEY_CALL_GAP,
    )
    made = (
        select(func.count(Call.id))
        .where(
            Call.member_id == SurveyRecipient.member_id,
            Call.purpose == CallPurpose.SURVEY,
            Call.created_at >= Survey.sent_at,
        )
        .scalar_subquery()
    )
    due = session.execute(
        select(SurveyRecipient.member_id)
        .join(Survey, Survey.id == SurveyRecipient.survey_id)
        .where(
            Survey.status == SurveyStatus.OPEN,
            Survey.by_call.is_(True),
            SurveyRecipient.completed_at.is_(None),
            or_(Survey.by_sms.is_(False), SurveyRecipient.asked_at < now - SMS_FIRST),
            ~recent,
            made < SURVEY_CALLS,
        )
        .order_by(SurveyRecipient.id)
        .limit(BATCH)
    ).all()
    seen: set[int] = set()
    for (member_id,) in due:
        if member_id in seen:
            continue  # one call asks the member's oldest survey; the next, the next day
        seen.add(member_id)
        member = session.get(Member, member_id)
        if member is None or not may_place_call(member, CallPurpose.SURVEY):
            counts["skipped"] += 1
            continue
        rules = rules_of(member)
        if in_busy_season(rules, now) or not may_contact(member, rules, now):
            counts["outside_window"] += 1
            continue
        call = queue_outbound_call(session, member, purpose=CallPurpose.SURVEY, at=now)
        enqueue_call(session, call)
        counts["survey_calls"] += 1
    return counts


__all__ = ["LIVE_IVR_PROVIDERS", "SURVEY_CALLS", "SURVEY_CALL_GAP", "place_survey_calls"]
