"""Lesson campaigns: calls inside windows, retries on no answer or a machine, then an SMS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Call,
    CampaignStatus,
    Lesson,
    LessonCampaign,
    LessonCategory,
    Member,
    Organization,
    opt_out,
    utcnow,
)
from models.lesson import (
    CampaignError,
    CampaignMember,
    CampaignMemberStatus,
    campaign_progress,
    create_campaign,
)
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI
from tests.support import TwilioClient
from tests.workers.jobs import sent_to
from workers import campaigns

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _window_start() -> datetime:
    """A window start three hours from now, so that a tick at the real time places nothing."""
    local = utcnow().astimezone(SHANGHAI) + timedelta(hours=3)
    return local.replace(minute=0, second=0, microsecond=0)


def _members(session: Session, count: int, start: datetime) -> tuple[Organization, list[Member]]:
    township, branch, _ = make_tree(session)
    window = (start.strftime("%H:%M"), (start + timedelta(hours=1)).strftime("%H:%M"))
    members = [
        make_member(session, branch, window_start=window[0], window_end=window[1])
        for _ in range(count)
    ]
    return township, members


def _campaign(session: Session, township: Organization) -> LessonCampaign:
    lesson = Lesson(org_id=township.id, title="党章学习", category=LessonCategory.POLICY)
    session.add(lesson)
    session.flush()
    campaign = create_campaign(
        session, lesson_id=lesson.id, org=township, author_id=None, target={}, now=utcnow()
    )
    campaigns.start_campaign(session, campaign)
    session.commit()
    return campaign


def _end_call(twilio: TwilioClient, call: Call, status: str, answered_by: str = "") -> None:
    """Twilio's status callback for a call that ended, as the voice webhook receives it."""
    params = {
        "CallSid": call.call_sid or "",
        "CallStatus": status,
        "To": call.phone,
        "From": "+8610690000",
        "AccountSid": "AC" + "0" * 32,
        "CallDuration": "30" if status == "completed" else "0",
    }
    if answered_by:
        params["AnsweredBy"] = answered_by
    assert twilio.post("/voice/status", params).status_code == 204


def _calls(session: Session, member: Member) -> list[Call]:
    session.expire_all()
    return list(session.scalars(select(Call).where(Call.member_id == member.id).order_by(Call.id)))


def _status(session: Session, member: Member) -> CampaignMemberStatus:
    entry = session.scalar(select(CampaignMember).where(CampaignMember.member_id == member.id))
    assert entry is not None
    return entry.status


def test_calls_wait_for_the_window_then_retry_then_text(
    session: Session, sandbox: SandboxAPI, twilio: TwilioClient, work: Callable[[], int]
) -> None:
    """No answer and a machine are called again (+30 min, next evening, the one after); a
    person who answered is done; after the last failed call the member gets the SMS."""
    start = _window_start()
    township, (absent, human, machine) = _members(session, 3, start)
    campaign = _campaign(session, township)
    work()  # the campaign opens; a tick at the real time is outside every window
    assert sandbox.get("/_sandbox/count")["calls"] == 0

    def tick(at: datetime) -> None:
        campaigns.campaign_tick(at.isoformat())
        work()

    tick(start + timedelta(minutes=5))
    assert sandbox.get("/_sandbox/count")["calls"] == 3
    _end_call(twilio, _calls(session, absent)[-1], "no-answer")
    _end_call(twilio, _calls(session, human)[-1], "completed", "human")
    _end_call(twilio, _calls(session, machine)[-1], "completed", "machine_start")
    tick(start + timedelta(minutes=10))
    assert _status(session, human) is CampaignMemberStatus.DONE
    assert _status(session, absent) is CampaignMemberStatus.PENDING

    retries = [
        start + timedelta(minutes=35),  # half an hour after the first call
        start + timedelta(days=1, minutes=1),  # the next evening
        start + timedelta(days=2, minutes=1),  # the evening after
    ]
    for attempt, moment in enumerate(retries, start=2):
        tick(moment - timedelta(minutes=2))  # not yet due: nothing placed
        assert len(_calls(session, absent)) == attempt - 1
        tick(moment)
        assert [c.attempt for c in _calls(session, absent)] == list(range(1, attempt + 1))
        _end_call(twilio, _calls(session, absent)[-1], "busy")
        _end_call(twilio, _calls(session, machine)[-1], "completed", "machine_end_beep")
    tick(retries[-1] + timedelta(minutes=5))
    for member in (absent, machine):
        assert _status(session, member) is CampaignMemberStatus.MISSED
        assert [m["body"] for m in sent_to(sandbox, member.phone)] == [
            f"未能接通课程电话。回复XX {campaign.lesson_id}将回电为您播放《党章学习》"
        ]
    assert sent_to(sandbox, human.phone) == []
    assert len(_calls(session, human)) == 1
    progress = campaign_progress(session, campaign.id)
    assert (progress["done"], progress["missed"]) == (1, 2)
    finished = session.get(LessonCampaign, campaign.id)
    assert finished is not None and finished.status is CampaignStatus.DONE


def test_no_lesson_calls_in_a_busy_season(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """During the harvest nobody is called; the calls wait for the season to end."""
    start = _window_start()
    township, (member,) = _members(session, 1, start)
    today = start.strftime("%m-%d")
    township.settings = {"busy_seasons": [[today, today]]}
    _campaign(session, township)
    work()
    campaigns.campaign_tick((start + timedelta(minutes=5)).isoformat())
    work()
    assert sandbox.get("/_sandbox/count")["calls"] == 0
    session.expire_all()
    entry = session.scalar(select(CampaignMember).where(CampaignMember.member_id == member.id))
    assert entry is not None and entry.next_attempt_at is not None
    # Not before the season is over: the local midnight after its last day (whatever the hour
    # the test runs at, which sets the window's start).
    season_over = datetime.combine(start.date() + timedelta(days=1), time(0), SHANGHAI)
    assert entry.next_attempt_at >= season_over


def test_opted_out_members_are_skipped(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """A member who opted out is part of the campaign's count but never called."""
    start = _window_start()
    township, (stays, leaves) = _members(session, 2, start)
    opt_out(session, leaves)
    campaign = _campaign(session, township)
    work()
    campaigns.campaign_tick((start + timedelta(minutes=5)).isoformat())
    work()
    assert [c["to"] for c in sandbox.get("/_sandbox/calls")] == [stays.phone]
    assert campaign_progress(session, campaign.id)["skipped"] == 1


def test_an_unknown_lesson_or_empty_target_is_refused(session: Session) -> None:
    """A clear error and nothing stored."""
    township, _, _ = make_tree(session)
    with pytest.raises(CampaignError, match="No lesson 99"):
        create_campaign(
            session, lesson_id=99, org=township, author_id=None, target={}, now=utcnow()
        )
    lesson = Lesson(org_id=township.id, title="党章", category=LessonCategory.POLICY)
    session.add(lesson)
    session.flush()
    with pytest.raises(CampaignError, match="reaches no member"):
        create_campaign(
            session, lesson_id=lesson.id, org=township, author_id=None, target={}, now=utcnow()
        )
    assert session.scalar(select(LessonCampaign.id)) is None
