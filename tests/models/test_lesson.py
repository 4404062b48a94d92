"""Lesson campaigns in the domain: who is in one, and how far it has gone, counted by member."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Call, CallDirection, CallPurpose, CallStatus, Lesson, LessonCategory, utcnow
from models.lesson import (
    CampaignMember,
    CampaignMemberStatus,
    add_campaign_members,
    campaign_progress,
    create_campaign,
)
from tests.factories import make_member, make_tree


def test_a_campaign_counts_its_members_once_however_often_they_were_called(
    session: Session,
) -> None:
    """20 members are 20 recipients when written, written again, and after retried calls."""
    township, east, west = make_tree(session)
    for number in range(20):
        make_member(session, east if number % 2 else west)
    lesson = Lesson(org_id=township.id, title="党章学习", category=LessonCategory.POLICY)
    session.add(lesson)
    session.flush()
    campaign = create_campaign(
        session, lesson_id=lesson.id, org=township, author_id=None, target={}, now=utcnow()
    )
    assert campaign_progress(session, campaign.id)["recipients"] == 20
    assert add_campaign_members(session, campaign, utcnow()) == 20
    assert campaign.recipients == 20
    assert add_campaign_members(session, campaign, utcnow()) == 0
    assert campaign.recipients == 20
    entries = session.scalars(select(CampaignMember).order_by(CampaignMember.id)).all()
    # Two members answered only on their third call; one missed all four.
    for entry, calls, status in (
        (entries[0], 3, CampaignMemberStatus.DONE),
        (entries[1], 3, CampaignMemberStatus.DONE),
        (entries[2], 4, CampaignMemberStatus.MISSED),
    ):
        member = entry.member_id
        for attempt in range(1, calls + 1):
            session.add(
                Call(
                    direction=CallDirection.OUTBOUND,
                    member_id=member,
                    phone=f"+8613900000{member:03d}",
                    purpose=CallPurpose.LESSON,
                    lesson_id=lesson.id,
                    campaign_id=campaign.id,
                    status=CallStatus.BUSY,
                    attempt=attempt,
                )
            )
        entry.attempts, entry.status = calls, status
    session.flush()
    progress = campaign_progress(session, campaign.id)
    assert progress == {
        "recipients": 20,
        "pending": 17,
        "calling": 0,
        "done": 2,
        "missed": 1,
        "skipped": 0,
    }
